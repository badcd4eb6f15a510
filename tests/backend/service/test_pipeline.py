"""IngestPipeline: PostgreSQL first, Redis best-effort, concurrent requests share round trips."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from backend.model import IngestBatch, Overloaded, ProcessSnapshot, Sample
from backend.pipeline import IngestPipeline
from backend.self_metrics import BackendMetrics
from tests.conftest import redis_commands_sent


@dataclass
class FakeWriter:
    full: bool = False
    batches: list[IngestBatch] = field(default_factory=list)

    def enqueue(self, batch: IngestBatch) -> None:
        if self.full:
            raise Overloaded(2)
        self.batches.append(batch)


@dataclass
class FakeRedisSide:
    """Stands in for the recent window and live channels; slow enough that requests pile up."""

    down: bool = False
    calls: list[list[float]] = field(default_factory=list)

    async def add(self, batch: IngestBatch) -> None:
        await asyncio.sleep(0.01)
        if self.down:
            raise RedisConnectionError("connection refused")
        self.calls.append([s.value for s in batch.samples])


def batch(value: float) -> IngestBatch:
    return IngestBatch("json", [Sample("h", "m", {}, 1000, value)])


def pipeline(writer: FakeWriter, redis: FakeRedisSide, pause: float = 0.2) -> IngestPipeline:
    return IngestPipeline(writer, redis, BackendMetrics(), redis_retry_pause=pause)


async def test_concurrent_batches_share_redis_round_trips_in_order() -> None:
    writer, redis = FakeWriter(), FakeRedisSide()
    pipe = pipeline(writer, redis)
    await asyncio.gather(*(pipe.accept(batch(float(i))) for i in range(20)))
    assert len(writer.batches) == 20
    assert [v for call in redis.calls for v in call] == [float(i) for i in range(20)]
    assert len(redis.calls) < 20  # the first goes alone, the rest ride together


async def test_overloaded_writer_refuses_before_anything_reaches_redis() -> None:
    writer, redis = FakeWriter(full=True), FakeRedisSide()
    with pytest.raises(Overloaded):
        await pipeline(writer, redis).accept(batch(1.0))
    assert redis.calls == []


async def test_redis_outage_keeps_accepting_then_resumes_by_itself() -> None:
    writer, redis = FakeWriter(), FakeRedisSide(down=True)
    pipe = pipeline(writer, redis, pause=0.2)
    await pipe.accept(batch(1.0))  # fails inside; the caller is not bothered
    await pipe.accept(batch(2.0))  # skipped without waiting on Redis during the pause
    assert len(writer.batches) == 2
    assert pipe.redis_skipped_batches == 2
    redis.down = False
    await asyncio.sleep(0.25)
    await pipe.accept(batch(3.0))
    assert redis.calls == [[3.0]]


def _two_host_batch() -> IngestBatch:
    from backend.model import as_columns

    samples = [
        Sample("web-1", "system_cpu_utilization_ratio", {"cpu": "0"}, 1_000, 0.5),
        Sample("db-1", "system_uptime_seconds", {}, 1_000, 42.0),
        Sample("web-1", "system_cpu_utilization_ratio", {"cpu": "1"}, 1_000, 0.25),
    ]
    snapshot = ProcessSnapshot("web-1", 1_000, ({"rank": 1, "name": "nginx"},))
    return IngestBatch("json", as_columns(samples), (snapshot,))


def test_columnar_live_frames_are_byte_identical_to_the_protocol_encoder() -> None:
    from backend.live.messages import encode_frames
    from backend.live.redis_bridge import encode_live_frames

    batch = _two_host_batch()
    plain = IngestBatch("json", list(batch.samples), batch.process_snapshots)
    assert encode_live_frames(batch, 1234) == encode_frames(plain, 1234)


async def test_every_hosts_frame_reaches_a_real_subscriber_in_one_publish(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    from backend.live.messages import encode_frames, split_frames
    from backend.live.redis_bridge import BatchPublisher, LiveFrames

    channel = f"{redis_prefix}live"
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    batch = _two_host_batch()
    await BatchPublisher(redis_client, [LiveFrames(channel)]).publish(batch)
    messages = []
    for _ in range(200):
        message = await pubsub.get_message(timeout=0.05)
        if message is not None:
            messages.append(message["data"])
            break
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert len(messages) == 1  # both hosts' frames in one message
    received = [orjson.loads(frame) for frame in split_frames(messages[0])]
    expected = [orjson.loads(f) for f in encode_frames(batch, 0)]
    assert [(f["host"], f["samples"], f["processes"]) for f in received] == [
        (f["host"], f["samples"], f["processes"]) for f in expected
    ]


async def test_live_and_alert_feed_frames_go_out_together_and_each_source_learns_its_receivers(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    from backend.alerts.feed import AlertFeedFrames, SampleFilter, observations_from_feed_frame
    from backend.alerts.rules import AlertRule
    from backend.live.redis_bridge import BatchPublisher, LiveFrames

    live = LiveFrames(f"{redis_prefix}live")  # nobody subscribes to it
    feed = AlertFeedFrames(f"{redis_prefix}alert-feed")
    busy = AlertRule(name="Busy", metric="system_cpu_utilization_ratio", matchers={"cpu": "0"})
    feed.wanted = SampleFilter([busy])
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(feed.channel)
    await BatchPublisher(redis_client, [live, feed]).publish(_two_host_batch())
    frames = []
    for _ in range(200):
        message = await pubsub.get_message(timeout=0.05)
        if message is not None:
            frames.append(message["data"])
        if frames:
            break
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert len(frames) == 1  # both hosts in one alert feed message
    observed = sorted(
        (o.host, o.metric, o.value) for f in frames for o in observations_from_feed_frame(f)
    )
    # web-1's cpu sample (the rule's), and for db-1 only that it was seen (for the stale rule)
    assert observed == [("db-1", "", 0.0), ("web-1", "system_cpu_utilization_ratio", 0.5)]
    assert live.frames(_two_host_batch(), 0) == []  # PUBLISH reached nobody: live pauses


async def test_window_and_live_channels_are_written_in_one_round_trip(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    from backend.live.messages import split_frames
    from backend.live.redis_bridge import BatchPublisher, LiveFrames
    from backend.pipeline import RecentAndLive
    from backend.storage.redis_window import RecentWindow

    window = RecentWindow(
        redis_client, prefix=redis_prefix, window_seconds=300, clock_ms=lambda: 60_000
    )
    live = LiveFrames(f"{redis_prefix}live")
    both = RecentAndLive(redis_client, window, BatchPublisher(redis_client, [live]))
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(live.channel)
    await both.add(IngestBatch("json", [Sample("warm", "m", {}, 1_000, 1.0)]))  # loads the script
    with redis_commands_sent(redis_client) as sent:
        await both.add(_two_host_batch())
    assert sent == ["EVALSHA"]
    frames = []
    for _ in range(200):
        message = await pubsub.get_message(timeout=0.05)
        if message is not None:
            frames += [orjson.loads(frame) for frame in split_frames(message["data"])]
        if any(f["host"] != "warm" for f in frames):
            break
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert sorted(f["host"] for f in frames if f["host"] != "warm") == ["db-1", "web-1"]
    recent = await window.recent("web-1")
    assert [s.value for s in recent.samples] == [0.5, 0.25]
    assert [p.processes[0]["name"] for p in recent.process_snapshots] == ["nginx"]
    assert [host for host, _ in await window.hosts()] == ["db-1", "warm", "web-1"]
