"""The portable process source (no procfs): psutil, at reduced speed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import psutil

from exporter.collectors.process_ranking import ProcessDetails, ProcessTable
from exporter.procfs.pid_stat import PidIo

_SCAN_ATTRS = ["pid", "name", "cpu_times", "create_time", "status", "num_threads"]

# psutil status strings -> OTel `process.state` (see processes_procfs.PROCESS_STATES).
_STATES = {
    psutil.STATUS_RUNNING: "running",
    psutil.STATUS_SLEEPING: "sleeping",
    psutil.STATUS_DISK_SLEEP: "blocked",
    psutil.STATUS_IDLE: "idle",
    psutil.STATUS_STOPPED: "stopped",
    psutil.STATUS_TRACING_STOP: "stopped",
    psutil.STATUS_ZOMBIE: "defunct",
    psutil.STATUS_DEAD: "defunct",
}


def table_from_psutil(processes: Iterable[Any], now: float) -> ProcessTable:
    """A ProcessTable from `psutil.process_iter(attrs)` results (objects with an `info` dict)."""
    cpu: dict[int, tuple[float, float, object]] = {}
    states: dict[str, int] = {}
    threads = denied = 0
    for process in processes:
        info = process.info
        times = info.get("cpu_times")
        if times is None or info.get("create_time") is None:
            denied += 1  # psutil puts None where access was denied
            continue
        cpu[info["pid"]] = (times.user + times.system, info["create_time"], process)
        state = _STATES.get(info.get("status") or "", "unknown")
        states[state] = states.get(state, 0) + 1
        threads += info.get("num_threads") or 0
    return ProcessTable(
        cpu=cpu, now=now, units_per_second=1.0, states=states, threads=threads, denied=denied
    )


def details_from_psutil(process: Any) -> ProcessDetails | None:
    try:
        with process.oneshot():
            times = process.cpu_times()
            memory = process.memory_info()
            name = process.name()
            threads = process.num_threads()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return ProcessDetails(
        name=name,
        user_seconds=times.user,
        system_seconds=times.system,
        rss_bytes=memory.rss,
        virtual_bytes=memory.vms,
        threads=threads,
        io=_optional(lambda: _io(process)),
        open_fds=_optional(process.num_fds),
    )


def _io(process: Any) -> PidIo:
    counters = process.io_counters()
    return PidIo(read_bytes=counters.read_bytes, write_bytes=counters.write_bytes)


def _optional(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except (psutil.Error, AttributeError, NotImplementedError):
        return None  # not allowed, exited, or not offered on this platform


class PsutilProcessSource:
    def scan(self) -> ProcessTable:
        return table_from_psutil(psutil.process_iter(_SCAN_ATTRS), time.time())

    def details(self, pid: int, handle: object) -> ProcessDetails | None:
        return details_from_psutil(handle)

    def close(self) -> None:
        """Nothing is kept open."""
