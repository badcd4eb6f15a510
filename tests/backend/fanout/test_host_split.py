"""The fan-out's one pass: a batch's samples by host, the newest time of each, and the samples an
alert rule watches; the same result whether the batch holds columns or Sample objects."""

from __future__ import annotations

from backend.fanout.host_split import Watches, split_by_host
from backend.live.messages import encode_live_bundle
from backend.model import IngestBatch, ProcessSnapshot, Sample, as_columns

SAMPLES = [
    Sample("web-1", "system_cpu_utilization_ratio", {"cpu": "0"}, 1_000, 0.5),
    Sample("db-1", "system_uptime_seconds", {}, 1_000, 42.0),
    Sample("web-1", "system_cpu_utilization_ratio", {"cpu": "1"}, 1_000, 0.25),
]
SNAPSHOT = ProcessSnapshot("web-1", 1_000, ({"rank": 1, "name": "nginx"},))


def test_each_host_gets_its_rows_newest_time_and_process_tables() -> None:
    late_table = ProcessSnapshot("cache-1", 9_000, ())
    split = split_by_host(IngestBatch("json", SAMPLES, (SNAPSHOT, late_table)), {})
    assert list(split.hosts) == ["web-1", "db-1", "cache-1"]
    web = split.hosts["web-1"]
    assert web.rows == [
        ["system_cpu_utilization_ratio", {"cpu": "0"}, 1_000, 0.5],
        ["system_cpu_utilization_ratio", {"cpu": "1"}, 1_000, 0.25],
    ]
    assert (web.newest_ms, web.snapshots) == (1_000, [SNAPSHOT])
    assert (split.hosts["cache-1"].rows, split.hosts["cache-1"].newest_ms) == ([], 9_000)
    assert split.watched == []


def test_only_samples_a_watch_matches_are_kept_for_the_alert_feed() -> None:
    watches: Watches = {"system_cpu_utilization_ratio": [{"cpu": "1", "host": "web-1"}]}
    split = split_by_host(IngestBatch("json", SAMPLES), watches)
    assert split.watched == [["web-1", "system_cpu_utilization_ratio", {"cpu": "1"}, 1_000, 0.25]]


def test_columns_and_sample_objects_give_byte_identical_live_bundles() -> None:
    columns = IngestBatch("json", as_columns(SAMPLES), (SNAPSHOT,))
    objects = IngestBatch("json", list(SAMPLES), (SNAPSHOT,))
    assert encode_live_bundle(split_by_host(columns, {}), 1234) == encode_live_bundle(
        split_by_host(objects, {}), 1234
    )
