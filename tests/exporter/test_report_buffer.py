"""The bounded buffer: FIFO by seq, drop-oldest when full, ack, waits."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from exporter.report_buffer import ReportBuffer
from exporter.spool import BufferedReport, Spool, SpoolState


def report(seq: int) -> BufferedReport:
    return BufferedReport(seq, b'{"seq":%d}' % seq)


def test_full_buffer_drops_the_oldest_and_says_how_many() -> None:
    buffer = ReportBuffer(capacity=3)
    dropped = [buffer.put(report(seq)) for seq in range(1, 6)]
    assert dropped == [0, 0, 0, 1, 1]
    assert [r.seq for r in buffer.peek(10)] == [3, 4, 5]


def test_peek_leaves_reports_until_acked() -> None:
    buffer = ReportBuffer(capacity=10)
    for seq in range(1, 6):
        buffer.put(report(seq))
    assert [r.seq for r in buffer.peek(2)] == [1, 2]
    assert [r.seq for r in buffer.peek(2)] == [1, 2]
    assert buffer.ack(2) == 2
    assert [r.seq for r in buffer.peek(10)] == [3, 4, 5]
    assert buffer.ack(99) == 3
    assert len(buffer) == 0


def test_ack_after_the_acked_reports_were_dropped_is_harmless() -> None:
    buffer = ReportBuffer(capacity=2)
    for seq in (1, 2):
        buffer.put(report(seq))
    in_flight = buffer.peek(2)
    buffer.put(report(3))  # drops 1 while [1, 2] is being sent
    assert buffer.ack(in_flight[-1].seq) == 1
    assert [r.seq for r in buffer.peek(5)] == [3]


def test_wait_for_reports_wakes_on_put() -> None:
    buffer = ReportBuffer(capacity=2)
    assert not buffer.wait_for_reports(timeout=0.01)
    threading.Timer(0.05, buffer.put, args=(report(1),)).start()
    started = time.monotonic()
    assert buffer.wait_for_reports(timeout=30)
    assert time.monotonic() - started < 30


def test_restore_keeps_only_the_newest_capacity(tmp_path: object) -> None:
    buffer = ReportBuffer(capacity=2)
    assert buffer.restore([report(1), report(2), report(3)]) == 1
    assert [r.seq for r in buffer.peek(5)] == [2, 3]


def spool_at(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path / "spool")
    spool.open()
    return spool


def test_with_a_spool_persist_puts_every_buffered_report_on_disk(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    buffer = ReportBuffer(capacity=3, spool=spool)
    for seq in range(1, 6):
        buffer.put(report(seq))
    assert spool.load() == [], "put never writes: the collection thread does no file I/O"
    assert buffer.has_unpersisted()
    buffer.persist(lambda: SpoolState("agent-a", 5))
    assert not buffer.has_unpersisted()
    assert [r.seq for r in spool.load()] == [3, 4, 5]
    assert spool.read_state() == SpoolState("agent-a", 5)
    buffer.ack(4)
    assert [r.seq for r in spool.load()] == [5]
    spool.close()


def test_with_a_spool_only_persisted_reports_are_handed_out(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    buffer = ReportBuffer(capacity=10, spool=spool)
    buffer.put(report(1))
    buffer.put(report(2))
    assert buffer.peek(10) == [], "a seq the backend may see must be on disk first"
    buffer.persist(lambda: SpoolState("a", 2))
    buffer.put(report(3))
    assert [r.seq for r in buffer.peek(10)] == [1, 2]
    buffer.persist(lambda: SpoolState("a", 3))
    assert [r.seq for r in buffer.peek(10)] == [1, 2, 3]
    spool.close()


def test_spooled_reports_dropped_by_overflow_leave_the_disk_on_the_next_persist(
    tmp_path: Path,
) -> None:
    spool = spool_at(tmp_path)
    buffer = ReportBuffer(capacity=2, spool=spool)
    buffer.put(report(1))
    buffer.put(report(2))
    buffer.persist(lambda: SpoolState("a", 2))
    assert buffer.put(report(3)) == 1  # drops 1, which is on disk
    assert [r.seq for r in spool.load()] == [1, 2], "put leaves the disk alone"
    buffer.persist(lambda: SpoolState("a", 3))
    assert [r.seq for r in spool.load()] == [2, 3]
    spool.close()


def test_reports_acked_while_being_written_do_not_stay_on_disk(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    buffer = ReportBuffer(capacity=10, spool=spool)
    buffer.put(report(1))
    buffer.put(report(2))

    def state_while_the_sender_acks() -> SpoolState:
        buffer.ack(2)  # as if acked between taking the reports and writing them
        return SpoolState("a", 2)

    buffer.persist(state_while_the_sender_acks)
    assert spool.load() == []
    assert len(buffer) == 0
    spool.close()


def test_a_failing_spool_is_logged_once_and_reports_go_on_from_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="exporter.report_buffer")
    spool = spool_at(tmp_path)
    buffer = ReportBuffer(capacity=10, spool=spool)
    shutil.rmtree(spool.directory)  # every write now fails, whoever the test runs as
    for seq in (1, 2):
        buffer.put(report(seq))
        buffer.persist(lambda: SpoolState("a", 2))
    assert [r.seq for r in buffer.peek(10)] == [1, 2]
    failures = [r for r in caplog.records if "cannot write to the spool" in r.getMessage()]
    assert len(failures) == 1, "once per run of failures, not once per report"
    spool.directory.mkdir()
    buffer.put(report(3))
    buffer.persist(lambda: SpoolState("a", 3))
    assert [r.seq for r in spool.load()] == [3]
    assert any("spool writable again" in r.getMessage() for r in caplog.records)
    spool.close()


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        ReportBuffer(capacity=0)
