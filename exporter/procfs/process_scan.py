"""One pass over /proc/[pid]/stat per cycle: the cheap scan that ranks processes by CPU.

Two kernel costs dominate at 1,000 processes: opening a /proc file costs about as much as reading
it, and /proc/<pid>/stat is several times dearer to generate than /proc/<pid>/schedstat. So the
scanner keeps both files of each process open between cycles (re-reading them with pread), and
reuses last cycle's stat line for a single-threaded process whose schedstat has not moved: such a
process has not run since, so its CPU times, state and thread count are unchanged. A kept
descriptor also tells a reused pid apart: reading it fails with ESRCH once its process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from exporter.procfs.pid_stat import NUM_THREADS, STARTTIME, STATE, STIME, UTIME

_STAT_READ_SIZE = 4096
_SCHEDSTAT_READ_SIZE = 128
_SPLIT_FIELDS = STARTTIME + 1  # split only as far as the last field the scan needs
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC
# Descriptors left for everything else the agent opens (sockets, spool files, ...).
_RESERVED_DESCRIPTORS = 512
_NOT_KEPT = -1


@dataclass(slots=True)
class ProcessScan:
    # pid -> (user+system clock ticks, start time in ticks after boot, the raw stat line)
    stats: dict[int, tuple[int, int, bytes]] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)  # stat state letter -> processes
    threads: int = 0
    denied: int = 0  # not readable (e.g. procfs mounted with hidepid)
    vanished: int = 0  # exited between the directory listing and the read


@dataclass(slots=True)
class _Tracked:
    stat_fd: int
    sched_fd: int  # _NOT_KEPT when schedstat is unavailable
    schedstat: bytes  # as read just before `entry`
    entry: tuple[int, int, bytes]
    letter: bytes
    threads: int


def default_kept_descriptors() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 65536
    return max(0, min(soft - _RESERVED_DESCRIPTORS, 65536))


class ProcessScanner:
    """Reads every process's stat line; keeps at most `max_kept` descriptors open across cycles."""

    def __init__(self, procfs: Path, max_kept: int | None = None) -> None:
        self._procfs = str(procfs)
        self._max_kept = default_kept_descriptors() if max_kept is None else max_kept
        self._tracked: dict[int, _Tracked] = {}
        self._kept_count = 0
        self._use_schedstat = os.path.exists(f"{self._procfs}/self/schedstat")

    def scan(self) -> ProcessScan:
        result = ProcessScan()
        stats, tracked = result.stats, self._tracked
        letters: list[bytes] = []
        threads = 0
        pread = os.pread
        for dir_entry in os.scandir(self._procfs):
            name = dir_entry.name
            if not name.isdigit():
                continue
            pid = int(name)
            known = tracked.get(pid)
            schedstat = b""
            data = None
            if known is not None:
                try:
                    if known.sched_fd != _NOT_KEPT:
                        schedstat = pread(known.sched_fd, _SCHEDSTAT_READ_SIZE, 0)
                        if schedstat == known.schedstat and known.threads == 1:
                            stats[pid] = known.entry  # has not run since: nothing changed
                            letters.append(known.letter)
                            threads += 1
                            continue
                    data = pread(known.stat_fd, _STAT_READ_SIZE, 0)
                except OSError:
                    self._forget(pid)  # its process exited; the pid may be someone else's now
                    known, schedstat = None, b""
            if data is None:
                known, schedstat, data = self._open(pid, name, result)
                if data is None:
                    continue
            fields = data[data.rfind(b")") + 2 :].split(b" ", _SPLIT_FIELDS)
            try:
                entry = (int(fields[UTIME]) + int(fields[STIME]), int(fields[STARTTIME]), data)
                process_threads = int(fields[NUM_THREADS])
            except (IndexError, ValueError):
                result.denied += 1  # not a stat line we understand: skipped like unreadable
                continue
            stats[pid] = entry
            letters.append(fields[STATE])
            threads += process_threads
            if known is not None:
                known.schedstat, known.entry = schedstat, entry
                known.letter, known.threads = fields[STATE], process_threads
        result.threads = threads
        result.states = {
            letter.decode("ascii", "replace"): n for letter, n in Counter(letters).items()
        }
        for pid in tracked.keys() - stats.keys():
            self._forget(pid)
        return result

    def _open(
        self, pid: int, name: str, result: ProcessScan
    ) -> tuple[_Tracked | None, bytes, bytes | None]:
        """Open a process's files: (tracking record or None if over budget, schedstat, stat)."""
        base = f"{self._procfs}/{name}"
        sched_fd = _NOT_KEPT
        if self._use_schedstat and self._kept_count + 2 <= self._max_kept:
            with contextlib.suppress(OSError):  # without it the process is simply re-read
                sched_fd = os.open(f"{base}/schedstat", _OPEN_FLAGS)
        try:
            stat_fd = os.open(f"{base}/stat", _OPEN_FLAGS)
        except OSError as exc:
            if sched_fd != _NOT_KEPT:
                os.close(sched_fd)
            self._count_failure(exc, result)
            return None, b"", None
        try:
            # schedstat before stat: if the process runs in between, the next cycle re-reads it.
            schedstat = os.pread(sched_fd, _SCHEDSTAT_READ_SIZE, 0) if sched_fd >= 0 else b""
            data = os.pread(stat_fd, _STAT_READ_SIZE, 0)
        except OSError as exc:
            self._close(stat_fd, sched_fd)
            self._count_failure(exc, result)
            return None, b"", None
        descriptors = 2 if sched_fd >= 0 else 1
        if self._kept_count + descriptors > self._max_kept:
            self._close(stat_fd, sched_fd)
            return None, b"", data
        self._kept_count += descriptors
        known = _Tracked(stat_fd, sched_fd, schedstat, (0, 0, b""), b"", 0)
        self._tracked[pid] = known
        return known, schedstat, data

    def _forget(self, pid: int) -> None:
        known = self._tracked.pop(pid)
        self._close(known.stat_fd, known.sched_fd)
        self._kept_count -= 2 if known.sched_fd >= 0 else 1

    @staticmethod
    def _close(stat_fd: int, sched_fd: int) -> None:
        os.close(stat_fd)
        if sched_fd >= 0:
            os.close(sched_fd)

    @staticmethod
    def _count_failure(exc: OSError, result: ProcessScan) -> None:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            result.vanished += 1
        else:
            result.denied += 1

    def close(self) -> None:
        for pid in list(self._tracked):
            self._forget(pid)
