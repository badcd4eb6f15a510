"""Per-process details read only for the top-N processes: disk I/O and open descriptors."""

from __future__ import annotations

import os
from pathlib import Path

from exporter.procfs.files import ProcfsFormatError, read_text
from exporter.procfs.pid_stat import PidIo, parse_pid_io


def read_pid_io(procfs: Path, pid: int) -> PidIo | None:
    """None when not allowed (another user's process) or when the process has exited."""
    try:
        return parse_pid_io(read_text(f"{procfs}/{pid}/io"))  # no Path objects: every cycle
    except (OSError, ProcfsFormatError):
        return None


def fd_directory_size_is_count(procfs: Path) -> bool:
    """Since Linux 6.2 a /proc/<pid>/fd directory's size is its number of entries."""
    try:
        return os.stat(procfs / "self" / "fd").st_size > 0
    except OSError:
        return False


def count_open_descriptors(procfs: Path, pid: int, size_is_count: bool = False) -> int | None:
    """None when not allowed (another user's process) or when the process has exited."""
    directory = f"{procfs}/{pid}/fd"
    try:
        # A listing costs far more for a process with thousands of descriptors (like this agent).
        if size_is_count:
            return os.stat(directory).st_size
        return len(os.listdir(directory))
    except OSError:
        return None
