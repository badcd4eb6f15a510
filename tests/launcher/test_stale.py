from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from launcher.embedded_postgres import postmaster_pid
from launcher.stale import (
    AlreadyRunning,
    ChildRecord,
    DataDirLock,
    load_children,
    parse_start_time,
    process_start_time,
    save_children,
    still_running,
    stop_stale_children,
)

STAT = "4242 (py (thon)) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0"


def test_start_time_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    assert parse_start_time(STAT) == 98765


def test_a_zombie_or_garbage_has_no_start_time() -> None:
    assert parse_start_time(STAT.replace(") S ", ") Z ")) is None
    assert parse_start_time("garbage") is None


def test_only_records_whose_pid_runs_the_same_process_are_stale() -> None:
    records = [ChildRecord("backend", 10, 500), ChildRecord("exporter", 11, 600)]
    running = {10: 500, 11: 999}  # pid 11 now belongs to some other, later process
    assert still_running(records, running.get) == [records[0]]
    nothing: dict[int, int] = {}
    assert still_running(records, nothing.get) == []


def test_children_file_round_trips_and_a_damaged_one_means_nothing(tmp_path: Path) -> None:
    path = tmp_path / "children.json"
    records = [ChildRecord("backend", 10, 500)]
    save_children(path, records)
    assert load_children(path) == records
    path.write_text("{not json")
    assert load_children(path) == []
    assert load_children(tmp_path / "missing.json") == []


def test_postmaster_pid_is_the_first_line_of_postmaster_pid() -> None:
    assert postmaster_pid("3072\n/data/pg\n1712346200\n5432\n") == 3072
    assert postmaster_pid("") is None
    assert postmaster_pid("x\n") is None


def test_a_second_holder_of_the_data_dir_is_told_who_has_it(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path / "hostpulse-up.lock")
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match=r"already running .*\(pid \d+\)"):
            DataDirLock(tmp_path / "hostpulse-up.lock").acquire()
    finally:
        first.release()
    again = DataDirLock(tmp_path / "hostpulse-up.lock")
    again.acquire()  # released means free again
    again.release()


def test_children_a_killed_run_left_are_stopped_with_their_groups(tmp_path: Path) -> None:
    # A child that forked a worker into its group, as uvicorn does with --workers.
    child = subprocess.Popen(
        ["sh", "-c", "sleep 60 & wait"], start_new_session=True, stdout=subprocess.DEVNULL
    )
    try:
        started = process_start_time(child.pid)
        assert started is not None
        path = tmp_path / "children.json"
        save_children(path, [ChildRecord("backend", child.pid, started)])
        stopped = stop_stale_children(path, deadline=5.0)
        assert [r.name for r in stopped] == ["backend"]
        child.wait(timeout=10)
        assert not path.exists()
        deadline = time.monotonic() + 5
        while _group_members(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _group_members(child.pid) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members
