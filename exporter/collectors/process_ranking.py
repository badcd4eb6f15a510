"""Pure core of the processes collector: what one scan holds, and ranking processes by CPU."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from exporter.procfs.pid_stat import PidIo

# pid -> (CPU time used so far, start time, the source's handle for reading details later).
# Times are in the source's unit (clock ticks for procfs, seconds for psutil).
CpuTable = Mapping[int, tuple[float, float, object]]


@dataclass(slots=True)
class ProcessTable:
    """Everything one scan of all processes found."""

    cpu: CpuTable
    now: float  # the current time in the unit of the start times
    units_per_second: float
    states: Mapping[str, int] = field(default_factory=dict)  # process.state -> processes
    threads: int = 0
    denied: int = 0
    vanished: int = 0


@dataclass(frozen=True, slots=True)
class ProcessDetails:
    name: str
    user_seconds: float
    system_seconds: float
    rss_bytes: int
    virtual_bytes: int
    threads: int
    io: PidIo | None
    open_fds: int | None


class ProcessSource(Protocol):
    def scan(self) -> ProcessTable: ...

    def details(self, pid: int, handle: object) -> ProcessDetails | None:
        """None when the process exited since the scan."""

    def close(self) -> None: ...


def busy_cpus(
    current: ProcessTable, previous: CpuTable | None, elapsed_seconds: float | None
) -> dict[int, float]:
    """CPUs' worth of time each busy process used over the last interval (idle ones are left out).

    On the first cycle (no previous scan) it is the average over each process's lifetime, as `ps`
    shows it. A pid absent from the previous scan, or reused (another start time), counts all its
    CPU time as spent in this interval.
    """
    per_second = current.units_per_second
    usage: dict[int, float] = {}
    if previous is None or not elapsed_seconds or elapsed_seconds <= 0:
        now = current.now
        for pid, (used, start, _) in current.cpu.items():
            lifetime = (now - start) / per_second
            if used > 0 and lifetime > 0:
                usage[pid] = used / per_second / lifetime
        return usage
    scale = 1.0 / (per_second * elapsed_seconds)
    for pid, entry in current.cpu.items():
        before = previous.get(pid)
        if before is entry:
            continue  # the scanner reuses an unchanged process's entry: it did not run
        used = entry[0]
        if before is not None and before[1] == entry[1]:
            used -= before[0]
        if used > 0:
            usage[pid] = used * scale
    return usage


def top_by_cpu(usage: Mapping[int, float], cpu: CpuTable, top_n: int) -> list[int]:
    """The top_n pids by usage. Ties and idle processes go to the larger CPU total, so that the
    reported set, and with it the series, stays stable on an idle machine."""
    top = heapq.nlargest(top_n, usage, key=lambda pid: (usage[pid], cpu[pid][0], -pid))
    if len(top) < top_n:
        # Plain tuples, no key function: this runs over every idle process each cycle.
        idle = [(entry[0], -pid) for pid, entry in cpu.items() if pid not in usage]
        top += [-negative_pid for _, negative_pid in heapq.nlargest(top_n - len(top), idle)]
    return top
