"""CPU time by mode and utilization (total per mode, busy fraction per core) from /proc/stat.

Utilization is computed from the difference to the previous read. The first read (and the read
after a counter reset, e.g. CPU hotplug) has no usable previous one, so it reports the average
since boot, as `top` does on its first screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from conventions.naming import Kind
from exporter.collectors.base import CollectorOutput
from exporter.model import Metric, Point
from exporter.procfs.cpu_stat import CPU_MODES, IDLE_MODES, CpuStat, CpuTimes, read_cpu_stat

_PSUTIL_FIELDS = {"interrupt": "irq"}  # cpu.mode -> psutil field where the names differ


def cpu_time_delta(previous: CpuTimes | None, current: CpuTimes) -> CpuTimes:
    """Seconds spent per mode since `previous`; since boot when there is none or it was reset."""
    if previous is None or sum(current.values()) < sum(previous.values()):
        return current
    # Single modes can step back a little (iowait is known to); clamp instead of going negative.
    return {mode: max(value - previous.get(mode, 0.0), 0.0) for mode, value in current.items()}


def utilization_by_mode(delta: CpuTimes) -> dict[str, float]:
    elapsed = sum(delta.values())
    if elapsed <= 0:
        return {}
    return {mode: value / elapsed for mode, value in delta.items()}


def busy_fraction(delta: CpuTimes) -> float | None:
    elapsed = sum(delta.values())
    if elapsed <= 0:
        return None
    idle = sum(value for mode, value in delta.items() if mode in IDLE_MODES)
    return min(max(1.0 - idle / elapsed, 0.0), 1.0)


def cpu_metrics(previous: CpuStat | None, current: CpuStat) -> list[Metric]:
    time_points = [
        Point(seconds, {"cpu.mode": mode, "cpu.logical_number": str(cpu)})
        for cpu, times in sorted(current.per_cpu.items())
        for mode, seconds in times.items()
    ]
    total_delta = cpu_time_delta(previous.total if previous else None, current.total)
    utilization = [
        Point(value, {"cpu.mode": mode}) for mode, value in utilization_by_mode(total_delta).items()
    ]
    for cpu, times in sorted(current.per_cpu.items()):
        before = previous.per_cpu.get(cpu) if previous else None
        busy = busy_fraction(cpu_time_delta(before, times))
        if busy is not None:
            utilization.append(Point(busy, {"cpu.logical_number": str(cpu)}))
    return [
        Metric(
            "system.cpu.time",
            "s",
            Kind.COUNTER,
            "Seconds each logical CPU spent in each mode.",
            time_points,
        ),
        Metric(
            "system.cpu.utilization",
            "1",
            Kind.GAUGE,
            "Share of CPU time per mode over the last interval (all CPUs), and busy share per CPU.",
            utilization,
        ),
    ]


def cpu_stat_from_psutil(total: Any, per_cpu: Sequence[Any]) -> CpuStat:
    """A CpuStat from psutil `cpu_times()` / `cpu_times(percpu=True)` namedtuples."""

    def times(sample: Any) -> dict[str, float]:
        fields = sample._asdict()
        return {
            mode: float(fields[_PSUTIL_FIELDS.get(mode, mode)])
            for mode in CPU_MODES
            if _PSUTIL_FIELDS.get(mode, mode) in fields
        }

    return CpuStat(total=times(total), per_cpu={i: times(s) for i, s in enumerate(per_cpu)})


def read_psutil_cpu_stat() -> CpuStat:
    import psutil  # only off Linux: the procfs path never loads it

    return cpu_stat_from_psutil(psutil.cpu_times(), psutil.cpu_times(percpu=True))


class CpuCollector:
    name = "cpu"

    def __init__(self, read_stat: Callable[[], CpuStat]) -> None:
        self._read_stat = read_stat
        self._previous: CpuStat | None = None

    @classmethod
    def from_procfs(cls, procfs: Path) -> CpuCollector:
        return cls(lambda: read_cpu_stat(procfs))

    @classmethod
    def from_psutil(cls) -> CpuCollector:
        return cls(read_psutil_cpu_stat)

    def collect(self) -> CollectorOutput:
        current = self._read_stat()
        metrics = cpu_metrics(self._previous, current)
        self._previous = current
        return CollectorOutput(metrics=metrics)
