"""/proc/<pid>/stat and /proc/<pid>/io: pure parsers for one process."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.procfs.files import ProcfsFormatError

# Positions in /proc/<pid>/stat counted from `state` (field 3 of proc(5)), i.e. after the ")"
# that ends the command name; the name itself may contain spaces and parentheses.
STATE = 0
UTIME = 11
STIME = 12
NUM_THREADS = 17
STARTTIME = 19
VSIZE = 20
RSS = 21


@dataclass(frozen=True, slots=True)
class PidStat:
    pid: int
    name: str
    state: str
    user_ticks: int
    system_ticks: int
    threads: int
    start_ticks: int  # clock ticks after boot
    virtual_bytes: int
    rss_pages: int


@dataclass(frozen=True, slots=True)
class PidIo:
    read_bytes: int  # bytes this process made the storage layer fetch
    write_bytes: int


def split_pid_stat(data: bytes) -> tuple[bytes, list[bytes]]:
    """(command name, fields from `state` on). Only the last ')' ends the name."""
    open_paren = data.find(b"(")
    close_paren = data.rfind(b")")
    if open_paren < 0 or close_paren < open_paren:
        raise ProcfsFormatError(f"/proc/<pid>/stat: no '(name)' in {data[:80]!r}")
    return data[open_paren + 1 : close_paren], data[close_paren + 2 :].split()


def parse_pid_stat(data: bytes) -> PidStat:
    name, fields = split_pid_stat(data)
    if len(fields) <= RSS:
        raise ProcfsFormatError(f"/proc/<pid>/stat: only {len(fields)} fields after the name")
    return PidStat(
        pid=int(data[: data.find(b" ")]),
        name=name.decode("utf-8", errors="replace"),
        state=fields[STATE].decode("ascii", errors="replace"),
        user_ticks=int(fields[UTIME]),
        system_ticks=int(fields[STIME]),
        threads=int(fields[NUM_THREADS]),
        start_ticks=int(fields[STARTTIME]),
        virtual_bytes=int(fields[VSIZE]),
        rss_pages=int(fields[RSS]),
    )


def parse_pid_io(text: str) -> PidIo:
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        values[key.strip()] = value.strip()
    try:
        return PidIo(read_bytes=int(values["read_bytes"]), write_bytes=int(values["write_bytes"]))
    except (KeyError, ValueError) as exc:
        raise ProcfsFormatError(f"/proc/<pid>/io: no read_bytes/write_bytes in {text!r}") from exc
