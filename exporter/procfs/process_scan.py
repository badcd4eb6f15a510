"""One pass over /proc/[pid]/stat per cycle: the cheap scan that ranks processes by CPU.

Two kernel costs dominate at 1,000 processes: opening a /proc file costs about as much as reading
it, and /proc/<pid>/stat is several times dearer to generate than /proc/<pid>/schedstat. So the
scanner keeps both files of each process open between cycles (re-reading them with pread), and
reuses last cycle's stat line for a single-threaded process whose schedstat has not moved: such a
process has not run since, so its CPU times, state and thread count are unchanged. A kept
descriptor also tells a reused pid apart: reading it fails with ESRCH once its process is gone.

Listing /proc itself is the next cost (~2 µs per process). When the last listing tracked every
process, the scanner skips it while the kernel's last allocated pid (/proc/loadavg) shows that at
most a few tasks were created: it walks the tracked processes and probes just the new pids (a new
thread's id is probed too, and skipped: its Tgid is another pid). Exits show as ESRCH on the kept
descriptors. This needs the procfs of the agent's own pid namespace (loadavg counts pids in the
reader's namespace), which `self/status` tells: its NSpid line has one entry only then.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from exporter.procfs.files import read_bytes
from exporter.procfs.pid_stat import NUM_THREADS, STARTTIME, STATE, STIME, UTIME

_STAT_READ_SIZE = 4096
_SCHEDSTAT_READ_SIZE = 128
_SPLIT_FIELDS = STARTTIME + 1  # split only as far as the last field the scan needs
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC
# Descriptors left for everything else the agent opens (sockets, spool files, ...).
_RESERVED_DESCRIPTORS = 512
_NOT_KEPT = -1
# More new pids than this since the last scan (or a pid wrap-around): list /proc instead.
MAX_PROBED_PIDS = 64


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
    pid: int
    stat_fd: int
    sched_fd: int  # _NOT_KEPT when schedstat is unavailable
    schedstat: bytes  # as read just before `entry`
    entry: tuple[int, int, bytes]
    letter: bytes
    single_threaded: bool  # only then does schedstat (the main thread's) cover the process
    threads: int
    seen: int = 0  # the last scan that listed this pid


def _status_field(status: bytes, key: bytes) -> list[bytes] | None:
    """The values of one `Key:\tvalue ...` line of /proc/<pid>/status, or None without it."""
    start = status.find(b"\n" + key)
    if start < 0:
        return None
    start += len(key) + 1
    end = status.find(b"\n", start)
    return status[start : end if end >= 0 else len(status)].split()


def _own_pid_namespace(procfs: str) -> bool:
    """Whether `procfs` shows this process's own pid namespace (NSpid lists one pid only then)."""
    try:
        with open(f"{procfs}/self/status", "rb") as status:
            nspid = _status_field(status.read(), b"NSpid:")
    except OSError:
        return False
    return nspid == [str(os.getpid()).encode()]


def _read_last_pid(procfs: str, usable: bool) -> int | None:
    """The last pid the kernel handed out (5th field of /proc/loadavg), if it can be trusted."""
    if not usable:
        return None
    try:
        return int(read_bytes(f"{procfs}/loadavg").split()[4])
    except (OSError, IndexError, ValueError):
        return None


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
        self._tracked: dict[str, _Tracked] = {}  # by /proc directory name: no int() per entry
        self._kept_count = 0
        self._scans = 0
        self._use_schedstat = os.path.exists(f"{self._procfs}/self/schedstat")
        self._can_probe = _own_pid_namespace(self._procfs)
        self._last_pid: int | None = None  # the kernel's last pid when the last scan began
        self._all_tracked = False  # every process seen since the last listing is tracked
        self.listings = 0  # scans that listed /proc (the others probed new pids only)

    def scan(self) -> ProcessScan:
        # The hot loop of the agent (once per process per cycle): locals only, and for a process
        # that has not run since the last scan, one pread and three stores.
        result = ProcessScan()
        stats = result.stats
        tracked = self._tracked
        lookup = tracked.get
        letters: list[bytes] = []
        append_letter = letters.append
        threads = 0
        pread = os.pread
        self._scans = scan_number = self._scans + 1
        listed = 0  # tracked processes listed in this scan
        for name in self._names():
            known = lookup(name)
            schedstat = b""
            data = None
            if known is not None:
                try:
                    sched_fd = known.sched_fd
                    if sched_fd >= 0:
                        schedstat = pread(sched_fd, _SCHEDSTAT_READ_SIZE, 0)
                        if schedstat == known.schedstat and known.single_threaded:
                            known.seen = scan_number
                            listed += 1
                            stats[known.pid] = known.entry  # has not run since: nothing changed
                            append_letter(known.letter)
                            threads += 1
                            continue
                    data = pread(known.stat_fd, _STAT_READ_SIZE, 0)
                except OSError:
                    self._forget(name)  # its process exited; the pid may be someone else's now
                    known, schedstat = None, b""
                else:
                    known.seen = scan_number
                    listed += 1
            elif not name.isdigit():
                continue
            pid = known.pid if known is not None else int(name)
            if data is None:
                known, schedstat, data = self._open(pid, name, result, scan_number)
                if known is not None:
                    listed += 1
                elif data is not None:
                    self._all_tracked = False  # over the descriptor budget: list next time
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
            append_letter(fields[STATE])
            threads += process_threads
            if known is not None:
                known.schedstat, known.entry = schedstat, entry
                known.letter, known.threads = fields[STATE], process_threads
                known.single_threaded = process_threads == 1
        result.threads = threads
        result.states = {
            letter.decode("ascii", "replace"): n for letter, n in Counter(letters).items()
        }
        if listed != len(tracked):  # some tracked process was not listed: it has exited
            for name in [name for name, known in tracked.items() if known.seen != scan_number]:
                self._forget(name)
        return result

    def _names(self) -> list[str]:
        """The /proc entries to look at: a full listing, or the tracked and the new pids."""
        previous, last_pid = self._last_pid, _read_last_pid(self._procfs, self._can_probe)
        self._last_pid = last_pid
        if (
            self._all_tracked
            and previous is not None
            and last_pid is not None
            and previous <= last_pid <= previous + MAX_PROBED_PIDS
        ):
            tracked = self._tracked
            new = [str(pid) for pid in range(previous + 1, last_pid + 1)]
            return [*tracked, *(name for name in new if name not in tracked and self._leads(name))]
        self.listings += 1
        self._all_tracked = True  # until a process turns out not to be trackable
        return os.listdir(self._procfs)

    def _leads(self, name: str) -> bool:
        """Whether /proc/<name> is a process (thread group leader), not another process's thread."""
        try:
            fd = os.open(f"{self._procfs}/{name}/status", _OPEN_FLAGS)
        except OSError:
            return False  # exited already (or never was a process)
        try:
            status = os.read(fd, 4096)
        except OSError:
            return False
        finally:
            os.close(fd)
        tgid = _status_field(status, b"Tgid:")
        return tgid is None or tgid == [name.encode()]  # no Tgid line: let the scan decide

    def _open(
        self, pid: int, name: str, result: ProcessScan, scan_number: int
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
        known = _Tracked(pid, stat_fd, sched_fd, schedstat, (0, 0, b""), b"", False, 0, scan_number)
        self._tracked[name] = known
        return known, schedstat, data

    def _forget(self, name: str) -> None:
        known = self._tracked.pop(name)
        self._close(known.stat_fd, known.sched_fd)
        self._kept_count -= 2 if known.sched_fd >= 0 else 1

    @staticmethod
    def _close(stat_fd: int, sched_fd: int) -> None:
        os.close(stat_fd)
        if sched_fd >= 0:
            os.close(sched_fd)

    def _count_failure(self, exc: OSError, result: ProcessScan) -> None:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            result.vanished += 1
        else:
            result.denied += 1
            self._all_tracked = False  # a process we cannot track: list next time

    def close(self) -> None:
        for name in list(self._tracked):
            self._forget(name)
