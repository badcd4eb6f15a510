"""Top-N processes: ranking math on a fake /proc, unreadable/vanished pids, psutil, live host."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from conventions.naming import Kind
from exporter.collectors.base import CollectorOutput
from exporter.collectors.process_ranking import ProcessTable, busy_cpus, top_by_cpu
from exporter.collectors.processes import ProcessesCollector
from exporter.collectors.processes_procfs import ProcfsProcessSource
from exporter.collectors.processes_psutil import (
    PsutilProcessSource,
    details_from_psutil,
    table_from_psutil,
)
from exporter.model import Metric
from tests.exporter.fixtures.fake_procfs import install_snapshot

PAGE = 4096


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def by_name(output: CollectorOutput) -> dict[str, Metric]:
    return {m.name: m for m in output.metrics}


@pytest.fixture
def procfs(tmp_path: Path) -> Path:
    return install_snapshot(tmp_path / "proc", "t0")


def fake_collector(procfs: Path, clock: FakeClock, top_n: int = 5) -> ProcessesCollector:
    source = ProcfsProcessSource(procfs, ticks_per_second=100, page_size=PAGE)
    return ProcessesCollector(source, top_n=top_n, cpu_count=2, clock=clock)


def test_first_cycle_ranks_by_average_since_each_process_started(procfs: Path) -> None:
    collector = fake_collector(procfs, FakeClock())
    try:
        top = collector.collect().processes
    finally:
        collector.close()
    assert [p.pid for p in top] == [100, 200, 1, 300, 400]
    # pid 100: 10 s of CPU over 500 s of life on 2 CPUs.
    assert top[0].cpu_utilization == pytest.approx(10 / 500 / 2)
    assert top[0].name == "busy (worker)"


def test_second_cycle_uses_the_delta_over_elapsed_times_cpus(procfs: Path) -> None:
    clock = FakeClock()
    collector = fake_collector(procfs, clock)
    try:
        collector.collect()
        install_snapshot(procfs, "t1")
        clock.now += 1.0
        output = collector.collect()
    finally:
        collector.close()
    top = output.processes
    assert [(p.rank, p.pid) for p in top] == [(1, 100), (2, 200), (3, 500), (4, 1), (5, 300)]
    # +90 ticks in 1 s on 2 CPUs; +40; a new pid counts all its 20 ticks.
    assert [p.cpu_utilization for p in top[:4]] == pytest.approx([0.45, 0.2, 0.1, 0.005])
    busy = top[0]
    assert (busy.memory_rss_bytes, busy.memory_virtual_bytes, busy.threads) == (
        1200 * PAGE,
        20_000_000,
        1,
    )
    assert (busy.disk_read_bytes, busy.disk_write_bytes, busy.open_fds) == (3000, 4000, 4)

    metrics = by_name(output)
    util = metrics["process.cpu.utilization"]
    assert (util.unit, util.kind) == ("1", Kind.GAUGE)
    assert dict(util.points[0].attributes) == {
        "rank": "1",
        "process.pid": "100",
        "process.executable.name": "busy (worker)",
    }
    cpu_time = {
        (p.attributes["rank"], p.attributes["cpu.mode"]): p.value
        for p in metrics["process.cpu.time"].points
    }
    assert cpu_time[("1", "user")] == pytest.approx(10.9)
    assert cpu_time[("2", "system")] == pytest.approx(1.1)
    threads = {p.attributes["process.pid"]: p.value for p in metrics["process.thread.count"].points}
    assert threads["200"] == 12
    states = {
        p.attributes["process.state"]: p.value for p in metrics["system.process.count"].points
    }
    assert states == {"running": 1, "sleeping": 3, "blocked": 1}
    assert metrics["hostpulse.system.threads"].points[0].value == 16


def test_only_the_top_n_carry_process_attributes(procfs: Path) -> None:
    collector = fake_collector(procfs, FakeClock(), top_n=2)
    try:
        output = collector.collect()
    finally:
        collector.close()
    pids = {
        p.attributes["process.pid"]
        for m in output.metrics
        for p in m.points
        if "process.pid" in p.attributes
    }
    assert pids == {"100", "200"}
    assert len(output.processes) == 2


def test_unreadable_and_vanished_pids_are_skipped_and_counted(procfs: Path) -> None:
    (procfs / "600" / "stat").mkdir(parents=True)  # reading it fails (EISDIR), like EACCES
    (procfs / "700").mkdir()  # listed, but its files are gone: exited mid-scan
    collector = fake_collector(procfs, FakeClock())
    try:
        collector.collect()
        output = collector.collect()
    finally:
        collector.close()
    unreadable = {
        p.attributes["reason"]: p.value
        for p in by_name(output)["hostpulse.process.unreadable"].points
    }
    assert unreadable == {"denied": 2, "vanished": 2}  # cumulative over the two cycles
    assert {p.pid for p in output.processes} == {1, 100, 200, 300, 400}


def test_a_top_process_without_io_or_fd_access_reports_none(procfs: Path) -> None:
    collector = fake_collector(procfs, FakeClock())
    try:
        output = collector.collect()
    finally:
        collector.close()
    zombie = next(p for p in output.processes if p.pid == 400)
    assert (zombie.disk_read_bytes, zombie.disk_write_bytes) == (None, None)
    io_pids = {p.attributes["process.pid"] for p in by_name(output)["process.disk.io"].points}
    assert "400" not in io_pids


def test_a_top_process_that_exits_before_its_details_are_read_is_dropped(procfs: Path) -> None:
    class Vanishing(ProcfsProcessSource):
        def details(self, pid: int, handle: object) -> Any:
            return None if pid == 100 else super().details(pid, handle)

    collector = ProcessesCollector(Vanishing(procfs, ticks_per_second=100), 5, 2, FakeClock())
    try:
        top = collector.collect().processes
    finally:
        collector.close()
    assert [p.rank for p in top] == [1, 2, 3, 4]
    assert 100 not in {p.pid for p in top}


def table(cpu: dict[int, tuple[float, float, object]], now: float = 1000.0) -> ProcessTable:
    return ProcessTable(cpu=cpu, now=now, units_per_second=100)


def test_reused_pid_counts_as_a_new_process() -> None:
    previous = {7: (5000, 10, b"")}
    current = table({7: (30, 900, b"")})  # same pid, later start: another process
    assert busy_cpus(current, previous, elapsed_seconds=2.0) == {7: pytest.approx(0.15)}


def test_idle_ties_prefer_the_larger_cpu_total_for_stable_series() -> None:
    cpu: dict[int, tuple[float, float, object]] = {
        1: (10, 0, b""),
        2: (500, 0, b""),
        3: (50, 0, b""),
        4: (7, 0, b""),
    }
    assert top_by_cpu({4: 0.5}, cpu, 3) == [4, 2, 3]


CpuTimes = namedtuple("CpuTimes", "user system children_user children_system")
MemInfo = namedtuple("MemInfo", "rss vms")


class FakePsutilProcess:
    def __init__(self, pid: int, name: str, user: float, created: float | None = 100.0) -> None:
        self.pid = pid
        self.times = CpuTimes(user, 0.5, 0, 0)
        self.info: dict[str, Any] = {
            "pid": pid,
            "name": name,
            "cpu_times": self.times,
            "create_time": created,
            "status": psutil.STATUS_SLEEPING,
            "num_threads": 3,
        }

    @contextlib.contextmanager
    def oneshot(self) -> Iterator[None]:
        yield

    def cpu_times(self) -> CpuTimes:
        return self.times

    def memory_info(self) -> MemInfo:
        return MemInfo(1000, 5000)

    def name(self) -> str:
        return str(self.info["name"])

    def num_threads(self) -> int:
        return 3

    def io_counters(self) -> Any:
        raise psutil.AccessDenied(self.pid)

    def num_fds(self) -> int:
        return 9


def test_psutil_fallback_table_and_details() -> None:
    processes = [
        FakePsutilProcess(1, "a", 1.0),
        FakePsutilProcess(2, "b", 5.0),
        FakePsutilProcess(3, "c", 1.0, None),
    ]
    scanned = table_from_psutil(processes, now=200.0)
    assert sorted(scanned.cpu) == [1, 2]
    assert scanned.denied == 1
    assert scanned.states == {"sleeping": 2}
    assert scanned.threads == 6
    usage = busy_cpus(scanned, None, None)
    assert top_by_cpu(usage, scanned.cpu, 1) == [2]
    details = details_from_psutil(processes[1])
    assert details is not None
    assert (details.name, details.rss_bytes, details.io, details.open_fds) == ("b", 1000, None, 9)


def test_psutil_collector_runs_on_this_host() -> None:
    collector = ProcessesCollector(PsutilProcessSource(), top_n=3)
    collector.collect()
    output = collector.collect()
    assert len(output.processes) == 3
    assert all(0.0 <= p.cpu_utilization <= 1.0 for p in output.processes)


def test_live_cpu_burner_shows_up_in_the_top_5_with_pid_and_name() -> None:
    burner = subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"])
    collector = ProcessesCollector.from_procfs(Path("/proc"), top_n=5)
    try:
        collector.collect()
        deadline = time.monotonic() + 60  # a shared machine: give the scheduler time
        found = None
        while found is None and time.monotonic() < deadline:
            time.sleep(0.5)
            found = next((p for p in collector.collect().processes if p.pid == burner.pid), None)
        assert found is not None, "the CPU-burning child never reached the top 5"
        # The name is the kernel's command name, read here after the child's exec.
        assert found.name == Path(f"/proc/{burner.pid}/comm").read_text().strip() == "sh"
        assert 0.0 < found.cpu_utilization <= 1.0
    finally:
        collector.close()
        burner.kill()
        burner.wait()
