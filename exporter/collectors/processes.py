"""Top-N processes by CPU, process counts by state, system-wide threads.

Only the top N processes carry process attributes (with a stable `rank`), never one series per
pid. Processes that cannot be read (not allowed, or exited mid-read) are skipped and counted in
`hostpulse.process.unreadable`, never logged one by one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from conventions.naming import Kind
from exporter.collectors.base import CollectorOutput
from exporter.collectors.process_ranking import (
    CpuTable,
    ProcessDetails,
    ProcessSource,
    busy_cpus,
    top_by_cpu,
)
from exporter.collectors.processes_procfs import ProcfsProcessSource
from exporter.model import Metric, Point, ProcessInfo


@dataclass(frozen=True, slots=True)
class RankedProcess:
    info: ProcessInfo
    details: ProcessDetails


def ranked_process(rank: int, pid: int, busy: float, cpus: int, d: ProcessDetails) -> RankedProcess:
    info = ProcessInfo(
        rank=rank,
        pid=pid,
        name=d.name,
        cpu_utilization=min(max(busy / cpus, 0.0), 1.0),
        memory_rss_bytes=d.rss_bytes,
        memory_virtual_bytes=d.virtual_bytes,
        threads=d.threads,
        disk_read_bytes=d.io.read_bytes if d.io else None,
        disk_write_bytes=d.io.write_bytes if d.io else None,
        open_fds=d.open_fds,
    )
    return RankedProcess(info, d)


def top_process_metrics(top: Sequence[RankedProcess]) -> list[Metric]:
    utilization, cpu_time, rss, virtual, threads, disk_io, fds = ([] for _ in range(7))
    for p in top:
        who = {
            "rank": str(p.info.rank),
            "process.pid": str(p.info.pid),
            "process.executable.name": p.info.name,
        }
        utilization.append(Point(p.info.cpu_utilization, who))
        cpu_time.append(Point(p.details.user_seconds, {**who, "cpu.mode": "user"}))
        cpu_time.append(Point(p.details.system_seconds, {**who, "cpu.mode": "system"}))
        rss.append(Point(p.info.memory_rss_bytes, who))
        virtual.append(Point(p.info.memory_virtual_bytes, who))
        threads.append(Point(p.info.threads, who))
        if p.details.io is not None:
            disk_io.append(Point(p.details.io.read_bytes, {**who, "disk.io.direction": "read"}))
            disk_io.append(Point(p.details.io.write_bytes, {**who, "disk.io.direction": "write"}))
        if p.info.open_fds is not None:
            fds.append(Point(p.info.open_fds, who))
    return [
        Metric(
            "process.cpu.utilization",
            "1",
            Kind.GAUGE,
            "Share of the whole machine's CPU (elapsed time x CPUs) over the last interval.",
            utilization,
        ),
        Metric("process.cpu.time", "s", Kind.COUNTER, "CPU seconds by mode.", cpu_time),
        Metric("process.memory.usage", "By", Kind.UPDOWN, "Resident set size.", rss),
        Metric("process.memory.virtual", "By", Kind.UPDOWN, "Virtual memory size.", virtual),
        Metric("process.thread.count", "{thread}", Kind.UPDOWN, "Threads.", threads),
        Metric(
            "process.disk.io",
            "By",
            Kind.COUNTER,
            "Bytes read from and written to storage.",
            disk_io,
        ),
        Metric(
            "process.unix.file_descriptor.count",
            "{file_descriptor}",
            Kind.UPDOWN,
            "Open file descriptors.",
            fds,
        ),
    ]


def host_process_metrics(
    states: dict[str, int], threads: int, denied_total: int, vanished_total: int
) -> list[Metric]:
    return [
        Metric(
            "system.process.count",
            "{process}",
            Kind.UPDOWN,
            "Processes by state.",
            [Point(n, {"process.state": s}) for s, n in sorted(states.items())],
        ),
        Metric(
            "hostpulse.system.threads",
            "{thread}",
            Kind.UPDOWN,
            "Threads of all processes, system-wide.",
            [Point(threads)],
        ),
        Metric(
            "hostpulse.process.unreadable",
            "{process}",
            Kind.COUNTER,
            "Processes skipped by the scan: not allowed to read, or exited mid-read.",
            [
                Point(denied_total, {"reason": "denied"}),
                Point(vanished_total, {"reason": "vanished"}),
            ],
        ),
    ]


class ProcessesCollector:
    name = "processes"

    def __init__(
        self,
        source: ProcessSource,
        top_n: int,
        cpu_count: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if top_n < 1:
            raise ValueError(f"top_n must be at least 1, got {top_n}")
        self._source = source
        self._top_n = top_n
        self._cpus = max(cpu_count or os.cpu_count() or 1, 1)
        self._clock = clock
        self._previous: CpuTable | None = None
        self._previous_time = 0.0
        self._denied_total = 0
        self._vanished_total = 0

    @classmethod
    def from_procfs(
        cls, procfs: Path, top_n: int, cpu_count: int | None = None
    ) -> ProcessesCollector:
        return cls(ProcfsProcessSource(procfs), top_n, cpu_count)

    @classmethod
    def from_psutil(cls, top_n: int) -> ProcessesCollector:
        from exporter.collectors.processes_psutil import PsutilProcessSource  # loads psutil

        return cls(PsutilProcessSource(), top_n)

    def collect(self) -> CollectorOutput:
        now = self._clock()
        table = self._source.scan()
        elapsed = now - self._previous_time if self._previous is not None else None
        busy = busy_cpus(table, self._previous, elapsed)
        top: list[RankedProcess] = []
        for pid in top_by_cpu(busy, table.cpu, self._top_n):
            details = self._source.details(pid, table.cpu[pid][2])
            if details is None:
                table.vanished += 1
                continue
            top.append(ranked_process(len(top) + 1, pid, busy.get(pid, 0.0), self._cpus, details))
        self._previous, self._previous_time = table.cpu, now
        self._denied_total += table.denied
        self._vanished_total += table.vanished
        metrics = top_process_metrics(top) + host_process_metrics(
            dict(table.states), table.threads, self._denied_total, self._vanished_total
        )
        return CollectorOutput(metrics=metrics, processes=tuple(p.info for p in top))

    def close(self) -> None:
        self._source.close()
