"""The alert feed, pure: accepted batches → the few samples rules watch (picked in the fan-out's
one pass) → one feed message → engine observations."""

from __future__ import annotations

import orjson

from backend.alerts.feed import SampleFilter, encode_feed_message, observations_from_feed_message
from backend.alerts.rules import AlertRule, RuleKind
from backend.fanout.host_split import split_by_host
from backend.model import IngestBatch, ProcessSnapshot, Sample, as_columns


def batch(*samples: Sample, snapshots: tuple[ProcessSnapshot, ...] = ()) -> IngestBatch:
    return IngestBatch("json", as_columns(list(samples)), snapshots)


def cpu(time_ms: int, value: float = 0.05, mode: str = "idle", host: str = "web-1") -> Sample:
    return Sample(host, "cpu", {"cpu_mode": mode}, time_ms, value)


def watching(*metrics: str, **matchers: str) -> SampleFilter:
    return SampleFilter(AlertRule(name=f"on-{m}", metric=m, matchers=matchers) for m in metrics)


def feed_messages(accepted: IngestBatch, wanted: SampleFilter) -> list[bytes]:
    """What the fan-out publishes on the alert feed for `accepted`."""
    message = encode_feed_message(split_by_host(accepted, wanted.watches))
    return [] if message is None else [message]


def observe(accepted: IngestBatch, wanted: SampleFilter) -> list[tuple[str, str, int, float]]:
    return [
        (o.host, o.metric, o.time_ms, o.value)
        for message in feed_messages(accepted, wanted)
        for o in observations_from_feed_message(message)
    ]


def test_watched_samples_pass_and_the_newest_time_marks_the_host_alive() -> None:
    accepted = batch(cpu(1000, 0.5), Sample("web-1", "disk", {}, 2000, 1.0))
    assert observe(accepted, watching("cpu")) == [
        ("web-1", "cpu", 1000, 0.5),
        ("web-1", "", 2000, 0.0),  # presence, for the stale rule
    ]


def test_no_presence_observation_when_a_watched_sample_is_newest() -> None:
    accepted = batch(Sample("web-1", "disk", {}, 1000, 1.0), cpu(1000))
    assert [metric for _, metric, _, _ in observe(accepted, watching("cpu"))] == ["cpu"]


def test_a_process_table_alone_also_marks_the_host_alive() -> None:
    snapshot = ProcessSnapshot("db-1", 5000, ({"rank": 1, "name": "postgres"},))
    assert observe(batch(snapshots=(snapshot,)), watching("cpu")) == [("db-1", "", 5000, 0.0)]


def test_only_samples_a_rule_matches_on_labels_and_host_are_published() -> None:
    accepted = batch(*(cpu(1000, 0.1, mode) for mode in ("user", "idle", "system")))
    message = orjson.loads(feed_messages(accepted, watching("cpu", cpu_mode="idle"))[0])
    assert message == {
        "seen": {"web-1": 1000},
        "samples": [["web-1", "cpu", {"cpu_mode": "idle"}, 1000, 0.1]],
    }
    elsewhere = orjson.loads(feed_messages(accepted, watching("cpu", host="db-1"))[0])
    assert elsewhere["samples"] == []
    assert len(observe(accepted, watching("cpu", host="web-1"))) == 3


def test_one_message_carries_every_host_of_the_batch() -> None:
    accepted = batch(
        cpu(1000, 0.5, host="web-1"),
        Sample("db-1", "disk", {}, 3000, 1.0),
        cpu(2000, 0.7, host="db-1"),
    )
    messages = feed_messages(accepted, watching("cpu"))
    assert len(messages) == 1  # one pub/sub message per batch, however many hosts
    assert sorted(observe(accepted, watching("cpu"))) == [
        ("db-1", "", 3000, 0.0),  # its disk sample is newer than its cpu sample
        ("db-1", "cpu", 2000, 0.7),
        ("web-1", "cpu", 1000, 0.5),  # web-1's newest sample is watched: no presence needed
    ]


def test_an_empty_batch_publishes_nothing() -> None:
    assert feed_messages(batch(), watching("cpu")) == []


def test_disabled_and_absent_rules_watch_no_samples() -> None:
    wanted = SampleFilter(
        [
            AlertRule(name="off", metric="cpu", enabled=False),
            AlertRule(name="stale", metric="", kind=RuleKind.ABSENT),
        ]
    )
    assert observe(batch(cpu(1000), cpu(2000)), wanted) == [("web-1", "", 2000, 0.0)]


def test_garbage_messages_give_nothing_and_bad_samples_are_skipped() -> None:
    assert observations_from_feed_message(b"not json") == []
    assert observations_from_feed_message(b'{"type": "samples"}') == []
    assert observations_from_feed_message(b'{"seen": 1, "samples": []}') == []
    assert observations_from_feed_message(b'{"seen": {"web-1": "soon"}, "samples": []}') == []
    nan_and_good = orjson.dumps(
        {
            "seen": {"web-1": 1000},
            "samples": [
                ["web-1", "cpu", {}, 1000, None],
                ["web-1", "cpu", {}, 1000, 0.5],
                [7, "cpu", {}, 1000, 0.9],  # a host that is not a string
                ["short"],
            ],
        }
    )
    assert [o.value for o in observations_from_feed_message(nan_and_good)] == [0.5]
