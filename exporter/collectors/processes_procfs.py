"""The Linux process source: one /proc/[pid]/stat scan per cycle, details for the top N only."""

from __future__ import annotations

import os
from pathlib import Path

from exporter.collectors.process_ranking import ProcessDetails, ProcessTable
from exporter.procfs.cpu_stat import clock_ticks_per_second
from exporter.procfs.files import ProcfsFormatError, read_bytes
from exporter.procfs.kernel_state import read_uptime
from exporter.procfs.pid_details import (
    count_open_descriptors,
    fd_directory_size_is_count,
    read_pid_io,
)
from exporter.procfs.pid_stat import parse_pid_stat
from exporter.procfs.process_scan import ProcessScanner

# /proc/<pid>/stat state letters -> OTel `process.state`. The semantic conventions define running,
# sleeping, stopped and defunct; uninterruptible sleep (D) and idle kernel threads (I) are kept
# apart as `blocked` and `idle` because an operator reads them differently.
PROCESS_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "blocked",
    "I": "idle",
    "T": "stopped",
    "t": "stopped",
    "Z": "defunct",
    "X": "defunct",
}


def process_states(letters: dict[str, int]) -> dict[str, int]:
    states: dict[str, int] = {}
    for letter, count in letters.items():
        state = PROCESS_STATES.get(letter, "unknown")
        states[state] = states.get(state, 0) + count
    return states


class ProcfsProcessSource:
    def __init__(
        self,
        procfs: Path,
        max_kept_files: int | None = None,
        ticks_per_second: int | None = None,
        page_size: int | None = None,
    ) -> None:
        self._procfs = procfs
        self._scanner = ProcessScanner(procfs, max_kept_files)
        self._hz = ticks_per_second or clock_ticks_per_second()
        self._page_size = page_size or os.sysconf("SC_PAGE_SIZE")
        self._fd_size_is_count = fd_directory_size_is_count(procfs)

    def scan(self) -> ProcessTable:
        scan = self._scanner.scan()
        return ProcessTable(
            cpu=scan.stats,
            now=read_uptime(self._procfs) * self._hz,
            units_per_second=self._hz,
            states=process_states(scan.states),
            threads=scan.threads,
            denied=scan.denied,
            vanished=scan.vanished,
        )

    def details(self, pid: int, handle: object) -> ProcessDetails | None:
        # A fresh read: the scan may have reused an older stat line of an idle process, and
        # memory can change (reclaim) without the process running.
        try:
            stat = parse_pid_stat(read_bytes(f"{self._procfs}/{pid}/stat"))
        except (OSError, ProcfsFormatError, ValueError):
            return None
        return ProcessDetails(
            name=stat.name,
            user_seconds=stat.user_ticks / self._hz,
            system_seconds=stat.system_ticks / self._hz,
            rss_bytes=stat.rss_pages * self._page_size,
            virtual_bytes=stat.virtual_bytes,
            threads=stat.threads,
            io=read_pid_io(self._procfs, pid),
            open_fds=count_open_descriptors(self._procfs, pid, self._fd_size_is_count),
        )

    def close(self) -> None:
        self._scanner.close()
