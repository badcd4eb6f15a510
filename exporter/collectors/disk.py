"""Disk bytes and operations per whole block device from /proc/diskstats (psutil elsewhere)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from conventions.naming import Kind
from exporter.collectors.base import CollectorOutput
from exporter.model import Metric, Point
from exporter.procfs.diskstats import DiskStat, is_reported_device, read_diskstats


def disk_metrics(disks: list[DiskStat]) -> list[Metric]:
    io, operations = [], []
    for disk in disks:
        read = {"system.device": disk.device, "disk.io.direction": "read"}
        write = {"system.device": disk.device, "disk.io.direction": "write"}
        io += [Point(disk.read_bytes, read), Point(disk.write_bytes, write)]
        operations += [Point(disk.reads, read), Point(disk.writes, write)]
    return [
        Metric("system.disk.io", "By", Kind.COUNTER, "Bytes read from and written to disk.", io),
        Metric(
            "system.disk.operations",
            "{operation}",
            Kind.COUNTER,
            "Completed disk reads and writes.",
            operations,
        ),
    ]


def disk_stats_from_psutil(per_disk: Mapping[str, Any]) -> list[DiskStat]:
    """DiskStats from psutil `disk_io_counters(perdisk=True)`, filtered by the procfs rule."""
    return [
        DiskStat(
            device=name,
            reads=int(c.read_count),
            writes=int(c.write_count),
            read_bytes=int(c.read_bytes),
            write_bytes=int(c.write_bytes),
        )
        for name, c in sorted(per_disk.items())
        if is_reported_device(name)
    ]


def read_psutil_disk_stats() -> list[DiskStat]:
    import psutil  # only off Linux: the procfs path never loads it

    return disk_stats_from_psutil(psutil.disk_io_counters(perdisk=True) or {})


class DiskCollector:
    name = "disk"

    def __init__(self, read_stats: Callable[[], list[DiskStat]]) -> None:
        self._read_stats = read_stats

    @classmethod
    def from_procfs(cls, procfs: Path) -> DiskCollector:
        return cls(lambda: read_diskstats(procfs))

    @classmethod
    def from_psutil(cls) -> DiskCollector:
        return cls(read_psutil_disk_stats)

    def collect(self) -> CollectorOutput:
        return CollectorOutput(metrics=disk_metrics(self._read_stats()))
