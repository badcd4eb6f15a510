"""The fleet summary, pure: a host's vitals from the batch's one pass, and the per-process table
(late batches, alert counts, staleness, only changed hosts per flush)."""

from __future__ import annotations

from typing import Any

import orjson

from backend.fanout.host_split import split_by_host
from backend.live.summary import FleetTable, encode_summaries, join_summary_bundle
from backend.model import IngestBatch, ProcessSnapshot, Sample

CPU = "system_cpu_utilization_ratio"


def _batch(host: str, time_ms: int, busy: float) -> IngestBatch:
    samples = [
        Sample(host, CPU, {"cpu_logical_number": "0"}, time_ms - 2000, 0.99),  # an older report
        Sample(host, CPU, {"cpu_logical_number": "0"}, time_ms, busy),
        Sample(host, CPU, {"cpu_logical_number": "1"}, time_ms, busy / 2),
        Sample(host, "system_memory_usage_bytes", {"system_memory_state": "free"}, time_ms, 7.0),
        Sample(host, "system_memory_usage_bytes", {"system_memory_state": "used"}, time_ms, 1.0),
        Sample(host, "system_linux_memory_available_bytes", {}, time_ms, 3.0),
    ]
    table = ProcessSnapshot(host, time_ms, ({"rank": 2, "name": "b"}, {"rank": 1, "name": "a"}))
    return IngestBatch("json", samples, (table,))


def _reports(*batches: tuple[IngestBatch, int]) -> bytes:
    return join_summary_bundle(
        line
        for batch, accepted in batches
        for line in encode_summaries(split_by_host(batch, {}), accepted).values()
    )


def _hosts(message: bytes | None) -> dict[str, dict[str, Any]]:
    assert message is not None
    return {h["host"]: h for h in orjson.loads(message)["hosts"]}


def test_the_summary_holds_the_newest_report_of_the_batch() -> None:
    summary = orjson.loads(_reports((_batch("web-1", 10_000, 0.5), 10_100)))
    # The mean of the newest time's cores; available memory completes the total (used 1 of 4).
    assert summary == {
        "host": "web-1",
        "seen_ms": 10_100,
        "cpu": 0.375,
        "mem": 0.25,
        "mem_used": 1.0,
        "top": {"name": "a", "pid": None, "cpu": None},
    }


def test_the_table_sends_changed_hosts_once_and_ignores_late_batches() -> None:
    table = FleetTable(stale_after_ms=5_000)
    table.add_reports(
        _reports((_batch("a", 10_000, 0.5), 10_000), (_batch("b", 10_000, 0.1), 10_000))
    )
    assert set(_hosts(table.flush(10_500))) == {"a", "b"}
    assert table.flush(10_600) is None  # nothing changed
    table.add_reports(_reports((_batch("a", 9_000, 0.9), 9_000)))  # older than what it has
    assert table.flush(10_700) is None
    table.add_reports(_reports((_batch("a", 12_000, 0.9), 12_000)))
    assert _hosts(table.flush(12_100))["a"]["cpu"] == 0.675


def test_alert_counts_follow_transitions_and_stale_hosts_are_marked_once() -> None:
    table = FleetTable(stale_after_ms=5_000)
    table.add_reports(_reports((_batch("a", 10_000, 0.5), 10_000)))
    table.load_alerts([("HighCpu", {"host": "a"}, "pending")])
    assert _hosts(table.flush(10_000))["a"]["pending"] == 1

    def transition(to: str, rule: str = "HighCpu") -> bytes:
        message = {"type": "alert", "rule": rule, "host": "a", "labels": {"host": "a"}, "to": to}
        return orjson.dumps(message)

    table.apply_alert(transition("firing"))
    table.apply_alert(transition("firing", rule="Disk"))
    hosts = _hosts(table.flush(10_100))
    assert (hosts["a"]["firing"], hosts["a"]["pending"]) == (2, 0)
    table.apply_alert(transition("resolved", rule="Disk"))
    assert _hosts(table.flush(10_200))["a"]["firing"] == 1

    assert _hosts(table.flush(15_001))["a"]["status"] == "stale"
    assert table.flush(16_000) is None  # stale already sent
    assert _hosts(table.snapshot(16_000))["a"]["status"] == "stale"


def test_catching_up_takes_only_stored_reports_newer_than_the_table() -> None:
    """What the channel missed before it subscribed is read back from the stored summaries."""
    table = FleetTable(stale_after_ms=60_000)
    table.add_reports(_reports((_batch("a", 20_000, 0.5), 20_000)))
    table.flush(20_000)
    stored_a_older = _reports((_batch("a", 10_000, 0.9), 10_000))
    stored_b_missed = _reports((_batch("b", 15_000, 0.1), 15_000))
    table.catch_up([stored_a_older, stored_b_missed])
    changed = _hosts(table.flush(21_000))
    assert set(changed) == {"b"}  # a's newer report stays; b was missed and is now known
    table.catch_up([stored_b_missed])
    assert table.flush(21_000) is None  # nothing newer: nothing to send


def test_replacing_from_the_store_keeps_a_host_heard_after_the_store_was_read() -> None:
    """A client's first snapshot reads the stored summaries while the channel may deliver a newer
    report: that host stays (and is still sent); one absent and long silent is gone."""
    table = FleetTable(stale_after_ms=3_000)
    table.add_reports(_reports((_batch("gone", 1_000, 0.5), 1_000)))
    table.flush(1_000)
    table.add_reports(_reports((_batch("new", 20_000, 0.5), 20_000)))  # heard, not yet flushed
    stored = [_reports((_batch("old", 19_000, 0.2), 19_000))]
    table.replace_reports(stored, now_ms=20_500)
    assert set(_hosts(table.snapshot(20_500))) == {"old", "new"}
    assert set(_hosts(table.flush(20_500))) == {"new"}
