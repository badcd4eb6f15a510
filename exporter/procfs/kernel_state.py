"""Small one-line kernel files: /proc/loadavg, /proc/uptime and /proc/sys/fs/file-nr."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exporter.procfs.files import ProcfsFormatError, read_text


@dataclass(frozen=True, slots=True)
class LoadAverage:
    one: float
    five: float
    fifteen: float


@dataclass(frozen=True, slots=True)
class FileHandles:
    allocated: int  # open file handles (the kernel has reported 0 unused since 2.6)
    maximum: int


def _numbers(text: str, source: str, count: int) -> list[str]:
    fields = text.split()
    if len(fields) < count:
        raise ProcfsFormatError(f"{source}: expected {count}+ fields, got {text.strip()!r}")
    return fields


def parse_loadavg(text: str) -> LoadAverage:
    f = _numbers(text, "/proc/loadavg", 3)
    return LoadAverage(float(f[0]), float(f[1]), float(f[2]))


def parse_uptime(text: str) -> float:
    """Seconds since boot (the first field of /proc/uptime)."""
    return float(_numbers(text, "/proc/uptime", 1)[0])


def parse_file_nr(text: str) -> FileHandles:
    f = _numbers(text, "/proc/sys/fs/file-nr", 3)
    return FileHandles(allocated=int(f[0]) - int(f[1]), maximum=int(f[2]))


def read_loadavg(procfs: Path) -> LoadAverage:
    return parse_loadavg(read_text(procfs / "loadavg"))


def read_uptime(procfs: Path) -> float:
    return parse_uptime(read_text(procfs / "uptime"))


def read_file_handles(procfs: Path) -> FileHandles:
    return parse_file_nr(read_text(procfs / "sys" / "fs" / "file-nr"))
