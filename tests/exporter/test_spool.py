"""The on-disk spool: round trip, state, corrupt files skipped, one agent per directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.spool import BufferedReport, Spool, SpoolState


def report(seq: int) -> BufferedReport:
    return BufferedReport(seq, b'{"seq":%d,"metrics":[]}' % seq)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool")
    spool.open()
    yield spool
    spool.close()


def test_reports_round_trip_in_seq_order(spool: Spool) -> None:
    for seq in (3, 1, 2, 10):
        spool.append(report(seq))
    assert spool.load() == [report(1), report(2), report(3), report(10)]
    spool.remove([1, 2, 99])
    assert [r.seq for r in spool.load()] == [3, 10]


def test_state_round_trips(spool: Spool) -> None:
    assert spool.read_state() is None
    spool.write_state(SpoolState("abc", 41))
    assert spool.read_state() == SpoolState("abc", 41)


def test_corrupt_files_are_logged_set_aside_and_skipped(
    spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    spool.append(report(1))
    spool.append(report(3))
    (spool.directory / f"{2:020d}.json").write_bytes(b'{"seq": 2, "metr')  # torn write
    (spool.directory / f"{4:020d}.json").write_bytes(b'{"seq": 5}')  # wrong name
    (spool.directory / "garbage.json").write_bytes(b"{}")
    assert [r.seq for r in spool.load()] == [1, 3]
    assert spool.corrupt_skipped == 3  # the agent counts these with its dropped reports
    assert len([r for r in caplog.records if "corrupt spool file" in r.getMessage()]) == 3
    assert [r.seq for r in spool.load()] == [1, 3]  # set aside: not reported again
    assert len(list(spool.directory.glob("*.corrupt"))) == 3
    assert spool.corrupt_skipped == 0  # this load found none; the first found three


def test_corrupt_state_means_a_new_instance(spool: Spool) -> None:
    (spool.directory / "state.json").write_text("{not json")
    assert spool.read_state() is None
    (spool.directory / "state.json").write_text('{"instance_id": "x"}')
    assert spool.read_state() is None


def test_one_agent_per_spool_directory(spool: Spool) -> None:
    other = Spool(spool.directory)
    with pytest.raises(OSError, match="in use by another agent"):
        other.open()
    spool.close()
    other.open()
    other.close()


def test_no_temporary_files_are_left_behind(spool: Spool) -> None:
    spool.append(report(1))
    spool.write_state(SpoolState("a", 1))
    names = {p.name for p in spool.directory.iterdir()}
    assert names == {f"{1:020d}.json", ".lock", "state.json"}


def test_an_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="spool_dir"):
        Spool(blocker / "spool").open()
