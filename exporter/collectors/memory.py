"""Memory and swap from /proc/meminfo (psutil elsewhere)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from conventions.naming import Kind
from exporter.collectors.base import CollectorOutput
from exporter.model import Metric, Point
from exporter.procfs.meminfo import MemoryStat, read_memory_stat


def memory_metrics(stat: MemoryStat) -> list[Metric]:
    utilization = stat.used / stat.total if stat.total > 0 else 0.0
    return [
        Metric(
            "system.memory.usage",
            "By",
            Kind.UPDOWN,
            "Memory in use by state; used = total - available.",
            [
                Point(stat.used, {"system.memory.state": "used"}),
                Point(stat.free, {"system.memory.state": "free"}),
                Point(stat.buffers, {"system.memory.state": "buffers"}),
                Point(stat.cached, {"system.memory.state": "cached"}),
            ],
        ),
        Metric(
            "system.memory.limit", "By", Kind.UPDOWN, "Total physical memory.", [Point(stat.total)]
        ),
        Metric(
            "system.memory.utilization",
            "1",
            Kind.GAUGE,
            "Share of physical memory in use (used / total).",
            [Point(utilization)],
        ),
        Metric(
            "system.linux.memory.available",
            "By",
            Kind.UPDOWN,
            "Memory available for new work without swapping (MemAvailable).",
            [Point(stat.available)],
        ),
        Metric(
            "system.paging.usage",
            "By",
            Kind.UPDOWN,
            "Swap space by state.",
            [
                Point(stat.swap_used, {"system.paging.state": "used"}),
                Point(stat.swap_free, {"system.paging.state": "free"}),
            ],
        ),
    ]


def memory_stat_from_psutil(virtual: Any, swap: Any) -> MemoryStat:
    """A MemoryStat from psutil `virtual_memory()` and `swap_memory()` namedtuples."""
    return MemoryStat(
        total=int(virtual.total),
        available=int(virtual.available),
        free=int(virtual.free),
        # Only Linux and the BSDs report buffers/cached.
        buffers=int(getattr(virtual, "buffers", 0)),
        cached=int(getattr(virtual, "cached", 0)),
        swap_total=int(swap.total),
        swap_free=int(swap.free),
    )


def read_psutil_memory_stat() -> MemoryStat:
    import psutil  # only off Linux: the procfs path never loads it

    return memory_stat_from_psutil(psutil.virtual_memory(), psutil.swap_memory())


class MemoryCollector:
    name = "memory"

    def __init__(self, read_stat: Callable[[], MemoryStat]) -> None:
        self._read_stat = read_stat

    @classmethod
    def from_procfs(cls, procfs: Path) -> MemoryCollector:
        return cls(lambda: read_memory_stat(procfs))

    @classmethod
    def from_psutil(cls) -> MemoryCollector:
        return cls(read_psutil_memory_stat)

    def collect(self) -> CollectorOutput:
        return CollectorOutput(metrics=memory_metrics(self._read_stat()))
