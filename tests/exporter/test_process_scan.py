"""The /proc/[pid]/stat scanner: kept descriptors, the schedstat shortcut, exits and reuse."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from exporter.procfs.files import ProcfsFormatError
from exporter.procfs.pid_stat import parse_pid_io, parse_pid_stat
from exporter.procfs.process_scan import MAX_PROBED_PIDS, ProcessScanner
from tests.exporter.fixtures.fake_procfs import install_snapshot

STAT_LINE = (
    b"42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 777 123456 78 0 0 0\n"
)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_parse_pid_stat_with_parentheses_in_the_name() -> None:
    stat = parse_pid_stat(STAT_LINE)
    assert (stat.pid, stat.name, stat.state) == (42, "a) b) c", "S")
    assert (stat.user_ticks, stat.system_ticks, stat.threads) == (250, 50, 3)
    assert (stat.start_ticks, stat.virtual_bytes, stat.rss_pages) == (777, 123456, 78)


def test_parsers_reject_garbage() -> None:
    with pytest.raises(ProcfsFormatError, match="name"):
        parse_pid_stat(b"42 no name here")
    with pytest.raises(ProcfsFormatError, match="read_bytes"):
        parse_pid_io("rchar: 1\n")
    assert parse_pid_io("read_bytes: 5\nwrite_bytes: 6\n").write_bytes == 6


def test_scan_of_a_fake_tree(tmp_path: Path) -> None:
    scanner = ProcessScanner(install_snapshot(tmp_path, "t0"))
    try:
        scan = scanner.scan()
    finally:
        scanner.close()
    assert sorted(scan.stats) == [1, 100, 200, 300, 400]
    assert scan.stats[100][:2] == (1000, 50000)
    assert scan.states == {"S": 3, "R": 1, "Z": 1}
    assert scan.threads == 16


def test_works_without_kept_descriptors(tmp_path: Path) -> None:
    procfs = install_snapshot(tmp_path, "t0")
    scanner = ProcessScanner(procfs, max_kept=0)
    before = open_descriptors()
    scanner.scan()
    install_snapshot(procfs, "t1")
    scan = scanner.scan()
    assert open_descriptors() == before
    assert scan.stats[100][0] == 1090
    assert 400 not in scan.stats


def with_schedstat(procfs: Path) -> None:
    (procfs / "self").mkdir(exist_ok=True)
    (procfs / "self" / "schedstat").write_text("0 0 0\n")
    for pid in ("1", "100", "200", "300", "400"):
        (procfs / pid / "schedstat").write_text("1000 0 1\n")


def test_schedstat_shortcut_rereads_only_processes_that_ran(tmp_path: Path) -> None:
    procfs = install_snapshot(tmp_path, "t0")
    with_schedstat(procfs)
    scanner = ProcessScanner(procfs)
    try:
        scanner.scan()
        install_snapshot(procfs, "t1")  # every stat line changes; pid 400 exits, 500 starts
        (procfs / "100" / "schedstat").write_text(
            "2000 0 5\n"
        )  # 100 ran, 1 did not (says schedstat)
        scan = scanner.scan()
    finally:
        scanner.close()
    assert scan.stats[100][0] == 1090  # ran: re-read
    assert scan.stats[1][0] == 150  # single-threaded and did not run: last cycle's line reused
    assert scan.stats[200][0] == 440  # multi-threaded: always re-read (schedstat is per thread)
    assert scan.stats[500][0] == 20  # new, and it has no schedstat file: plain stat read
    assert 400 not in scan.stats


def as_own_namespace(procfs: Path, last_pid: int) -> None:
    """Make a fake tree pass for this process's own pid namespace, last pid `last_pid`."""
    (procfs / "self").mkdir(exist_ok=True)
    (procfs / "self" / "status").write_text(f"Name:\tpython\nTgid:\t1\nNSpid:\t{os.getpid()}\n")
    set_last_pid(procfs, last_pid)


def set_last_pid(procfs: Path, last_pid: int) -> None:
    (procfs / "loadavg").write_text(f"0.50 0.40 0.30 2/150 {last_pid}\n")


def add_task(procfs: Path, pid: int, tgid: int) -> None:
    shutil.copytree(procfs / "300", procfs / str(pid))
    (procfs / str(pid) / "status").write_text(f"Name:\tx\nTgid:\t{tgid}\n")


def test_without_new_pids_only_the_new_ones_are_probed(tmp_path: Path) -> None:
    procfs = install_snapshot(tmp_path, "t0")
    as_own_namespace(procfs, 600)
    scanner = ProcessScanner(procfs)
    try:
        assert sorted(scanner.scan().stats) == [1, 100, 200, 300, 400]
        assert scanner.listings == 1
        add_task(procfs, 601, tgid=601)  # a new process
        add_task(procfs, 602, tgid=601)  # a new thread of it: not a process
        add_task(procfs, 700, tgid=700)  # beyond the last pid: a real scan could not miss it...
        set_last_pid(procfs, 602)
        scan = scanner.scan()
        assert scanner.listings == 1, "a few new pids: no listing"
        assert sorted(scan.stats) == [1, 100, 200, 300, 400, 601]  # ...so this one shows it
        set_last_pid(procfs, 602 + MAX_PROBED_PIDS + 1)  # many new pids: list /proc
        scan = scanner.scan()
        assert scanner.listings == 2
        assert {601, 700} <= scan.stats.keys()
    finally:
        scanner.close()


def test_a_foreign_pid_namespace_is_always_listed(tmp_path: Path) -> None:
    procfs = install_snapshot(tmp_path, "t0")
    as_own_namespace(procfs, 600)
    (procfs / "self" / "status").write_text(f"Name:\tpython\nNSpid:\t4242\t{os.getpid()}\n")
    scanner = ProcessScanner(procfs)
    try:
        for _ in range(3):
            scanner.scan()
        assert scanner.listings == 3, "loadavg counts pids of another namespace there"
    finally:
        scanner.close()


def test_live_new_processes_show_and_new_threads_do_not() -> None:
    scanner = ProcessScanner(Path("/proc"))
    child = None
    try:
        scanner.scan()
        child = subprocess.Popen(["sleep", "60"])
        worker = threading.Thread(target=time.sleep, args=(0.5,))
        worker.start()
        scan = scanner.scan()
        worker.join()
        assert child.pid in scan.stats
        assert worker.native_id not in scan.stats, "a thread is not a process"
        assert os.getpid() in scan.stats
        assert scan.threads >= len(scan.stats)
    finally:
        scanner.close()
        if child is not None:
            child.kill()
            child.wait()


def test_live_exited_process_releases_its_descriptors() -> None:
    child = subprocess.Popen(["sleep", "60"])
    scanner = ProcessScanner(Path("/proc"))
    try:
        assert child.pid in scanner.scan().stats
        with_kept = open_descriptors()
        child.kill()
        child.wait()
        scan = scanner.scan()
        assert child.pid not in scan.stats
        assert open_descriptors() < with_kept
    finally:
        scanner.close()
        if child.poll() is None:
            child.kill()
            child.wait()


def test_live_scan_sees_this_process_and_counts_threads() -> None:
    scanner = ProcessScanner(Path("/proc"))
    try:
        scan = scanner.scan()
    finally:
        scanner.close()
    assert os.getpid() in scan.stats
    assert scan.threads >= len(scan.stats)
    assert sum(scan.states.values()) == len(scan.stats)
