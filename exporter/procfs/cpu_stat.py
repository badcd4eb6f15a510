"""/proc/stat: CPU time per mode (total and per logical CPU)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter.procfs.files import ProcfsFormatError, read_text

# /proc/stat columns in order, named with OTel `cpu.mode` values. `guest` and `guest_nice` are
# already included in user/nice, so they are not modes of their own (no double counting).
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "interrupt", "softirq", "steal")
IDLE_MODES = frozenset({"idle", "iowait"})

CpuTimes = Mapping[str, float]  # cpu.mode -> seconds


@dataclass(frozen=True, slots=True)
class CpuStat:
    total: CpuTimes
    per_cpu: Mapping[int, CpuTimes] = field(default_factory=dict)


def clock_ticks_per_second() -> int:
    return os.sysconf("SC_CLK_TCK")


def parse_cpu_stat(text: str, ticks_per_second: int = 100) -> CpuStat:
    """The `cpu` and `cpuN` lines of /proc/stat, converted from clock ticks to seconds."""
    total: dict[str, float] | None = None
    per_cpu: dict[int, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        label, *values = line.split()
        if len(values) < 4:
            raise ProcfsFormatError(f"/proc/stat: line {label!r} has {len(values)} values, need 4+")
        times = {
            mode: int(value) / ticks_per_second
            for mode, value in zip(CPU_MODES, values, strict=False)
        }
        if label == "cpu":
            total = times
        else:
            per_cpu[int(label[3:])] = times
    if total is None:
        raise ProcfsFormatError("/proc/stat: no 'cpu' line")
    return CpuStat(total=total, per_cpu=per_cpu)


def read_cpu_stat(procfs: Path) -> CpuStat:
    return parse_cpu_stat(read_text(procfs / "stat"), clock_ticks_per_second())


def count_logical_cpus(text: str) -> int:
    """Online logical CPUs: the `cpuN` lines of /proc/stat."""
    return sum(1 for line in text.splitlines() if line.startswith("cpu") and line[3:4].isdigit())


def read_logical_cpu_count(procfs: Path) -> int:
    return count_logical_cpus(read_text(procfs / "stat"))
