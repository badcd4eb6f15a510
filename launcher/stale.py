"""One `hostpulse up` per data directory, and cleaning up after a run that was killed.

The lock is an flock on a file: the kernel drops it when its holder dies, however it dies, so a
killed run never blocks the next one. What a killed run leaves running (its children, PostgreSQL,
Redis) is found through the children file, `postmaster.pid` and Redis' pid file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

_KILL_DEADLINE = 10.0


class AlreadyRunning(RuntimeError):
    """Another `hostpulse up` holds the data directory."""


@dataclass(frozen=True, slots=True)
class ChildRecord:
    name: str
    pid: int
    # Kernel start time (clock ticks since boot): tells a live child from a recycled pid.
    start_time: int


class DataDirLock:
    """An exclusive, non-blocking flock on `path`, holding the owner's pid for messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"hostpulse up is already running on {self.path.parent} (pid {owner}); "
                "stop it first or use another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def parse_start_time(stat_text: str) -> int | None:
    """Field 22 (starttime) of /proc/PID/stat, None for a zombie (it is already dead).
    The command name may contain spaces or ')', hence the split at the last ')'."""
    _, sep, rest = stat_text.rpartition(")")
    fields = rest.split()
    if not sep or len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19]) if fields[19].isdigit() else None


def process_start_time(pid: int, proc: Path = Path("/proc")) -> int | None:
    try:
        return parse_start_time((proc / str(pid) / "stat").read_text(encoding="utf-8"))
    except OSError:
        return None


def save_children(path: Path, records: Iterable[ChildRecord]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps([asdict(r) for r in records]), encoding="utf-8")
    os.replace(partial, path)


def load_children(path: Path) -> list[ChildRecord]:
    """The records in `path`; a missing or damaged file means nothing to clean."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [ChildRecord(str(r["name"]), int(r["pid"]), int(r["start_time"])) for r in raw]
    except (OSError, ValueError, TypeError, KeyError):
        return []


def still_running(
    records: Iterable[ChildRecord], start_time_of: Callable[[int], int | None]
) -> list[ChildRecord]:
    """The records whose pid still runs the same process (same kernel start time)."""
    return [r for r in records if start_time_of(r.pid) == r.start_time]


def stop_stale_children(path: Path, deadline: float = _KILL_DEADLINE) -> list[ChildRecord]:
    """SIGTERM the process groups of children a killed run left, SIGKILL after `deadline`."""
    stale = still_running(load_children(path), process_start_time)
    for record in stale:
        kill_group(record.pid, signal.SIGTERM)
    end = time.monotonic() + deadline
    while time.monotonic() < end and still_running(stale, process_start_time):
        time.sleep(0.05)
    for record in still_running(stale, process_start_time):
        kill_group(record.pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return stale


def kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
