"""System-wide open file handles and their limit from /proc/sys/fs/file-nr (Linux only).

The semantic conventions and the hostmetrics receiver have no name for these, so they follow the
conventions' rule for Linux-only values: `system.linux.file_handle.usage` / `.limit` (`usage`, not
`count`: promtool rejects a `_count` suffix on a gauge).
psutil has no equivalent, so elsewhere this collector reports nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conventions.naming import Kind
from exporter.collectors.base import CollectorOutput
from exporter.model import Metric, Point
from exporter.procfs.kernel_state import FileHandles, read_file_handles


def handle_metrics(handles: FileHandles) -> list[Metric]:
    return [
        Metric(
            "system.linux.file_handle.usage",
            "{file_handle}",
            Kind.UPDOWN,
            "Open file handles, system-wide.",
            [Point(handles.allocated)],
        ),
        Metric(
            "system.linux.file_handle.limit",
            "{file_handle}",
            Kind.UPDOWN,
            "Most file handles the kernel will allocate (fs.file-max).",
            [Point(handles.maximum)],
        ),
    ]


class HandlesCollector:
    name = "handles"

    def __init__(self, read_handles: Callable[[], FileHandles | None]) -> None:
        self._read_handles = read_handles

    @classmethod
    def from_procfs(cls, procfs: Path) -> HandlesCollector:
        return cls(lambda: read_file_handles(procfs))

    @classmethod
    def from_psutil(cls) -> HandlesCollector:
        return cls(lambda: None)

    def collect(self) -> CollectorOutput:
        handles = self._read_handles()
        return CollectorOutput(metrics=handle_metrics(handles) if handles else [])
