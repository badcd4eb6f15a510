"""Load average (hostmetrics names), uptime and logical CPU count."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conventions.naming import Kind
from exporter.collectors.base import CollectorOutput
from exporter.model import Metric, Point
from exporter.procfs.cpu_stat import read_logical_cpu_count
from exporter.procfs.kernel_state import LoadAverage, read_loadavg, read_uptime


@dataclass(frozen=True, slots=True)
class SystemStat:
    load: LoadAverage
    uptime_seconds: float
    logical_cpus: int


def system_metrics(stat: SystemStat) -> list[Metric]:
    load = [("1m", stat.load.one), ("5m", stat.load.five), ("15m", stat.load.fifteen)]
    return [
        *(
            Metric(
                f"system.cpu.load_average.{window}",
                "{thread}",
                Kind.GAUGE,
                f"Load average over {window}.",
                [Point(value)],
            )
            for window, value in load
        ),
        Metric(
            "system.uptime",
            "s",
            Kind.GAUGE,
            "Seconds since the host booted.",
            [Point(stat.uptime_seconds)],
        ),
        Metric(
            "system.cpu.logical.count",
            "{cpu}",
            Kind.UPDOWN,
            "Online logical CPUs.",
            [Point(stat.logical_cpus)],
        ),
    ]


def read_procfs_system_stat(procfs: Path) -> SystemStat:
    return SystemStat(
        load=read_loadavg(procfs),
        uptime_seconds=read_uptime(procfs),
        logical_cpus=read_logical_cpu_count(procfs),
    )


def read_psutil_system_stat() -> SystemStat:
    import psutil  # only off Linux: the procfs path never loads it

    one, five, fifteen = psutil.getloadavg()
    return SystemStat(
        load=LoadAverage(one, five, fifteen),
        uptime_seconds=max(time.time() - psutil.boot_time(), 0.0),
        logical_cpus=psutil.cpu_count() or 1,
    )


class SystemCollector:
    name = "system"

    def __init__(self, read_stat: Callable[[], SystemStat]) -> None:
        self._read_stat = read_stat

    @classmethod
    def from_procfs(cls, procfs: Path) -> SystemCollector:
        return cls(lambda: read_procfs_system_stat(procfs))

    @classmethod
    def from_psutil(cls) -> SystemCollector:
        return cls(read_psutil_system_stat)

    def collect(self) -> CollectorOutput:
        return CollectorOutput(metrics=system_metrics(self._read_stat()))
