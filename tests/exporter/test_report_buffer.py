"""The bounded buffer: FIFO by seq, drop-oldest when full, ack, waits."""

from __future__ import annotations

import threading
import time

import pytest

from exporter.report_buffer import ReportBuffer
from exporter.spool import BufferedReport, Spool


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


def test_with_a_spool_every_buffered_report_is_on_disk(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    spool = Spool(Path(str(tmp_path)) / "spool")
    spool.open()
    buffer = ReportBuffer(capacity=3, spool=spool)
    for seq in range(1, 6):
        buffer.put(report(seq))
    assert [r.seq for r in spool.load()] == [3, 4, 5]
    buffer.ack(4)
    assert [r.seq for r in spool.load()] == [5]
    spool.close()


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        ReportBuffer(capacity=0)
