"""RecentAndLive against a real Redis: each host's window entry, the live bundle and the alert
feed message of a batch in one EVALSHA, and each channel learns how many listened."""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from backend.alerts.feed import AlertFeed, SampleFilter, observations_from_feed_message
from backend.alerts.rules import AlertRule
from backend.fanout.host_split import split_by_host
from backend.fanout.redis_script import RecentAndLive
from backend.live.messages import encode_live_bundle, split_live_bundle
from backend.live.redis_bridge import LiveChannel
from backend.model import IngestBatch, ProcessSnapshot, Sample, as_columns
from backend.storage.redis_window import RecentWindow
from tests.conftest import redis_commands_sent


def _two_host_batch() -> IngestBatch:
    samples = [
        Sample("web-1", "system_cpu_utilization_ratio", {"cpu": "0"}, 1_000, 0.5),
        Sample("db-1", "system_uptime_seconds", {}, 1_000, 42.0),
        Sample("web-1", "system_cpu_utilization_ratio", {"cpu": "1"}, 1_000, 0.25),
    ]
    snapshot = ProcessSnapshot("web-1", 1_000, ({"rank": 1, "name": "nginx"},))
    return IngestBatch("json", as_columns(samples), (snapshot,))


def _window(redis_client: aioredis.Redis, prefix: str) -> RecentWindow:
    return RecentWindow(redis_client, prefix=prefix, window_seconds=300, clock_ms=lambda: 60_000)


async def _received(pubsub: Any, until: int = 1) -> list[bytes]:
    """Up to `until` messages the subscription gets within ~10 s."""
    messages: list[bytes] = []
    for _ in range(200):
        message = await pubsub.get_message(timeout=0.05)
        if message is not None:
            messages.append(message["data"])
        if len(messages) >= until:
            break
    return messages


async def test_every_hosts_live_frame_reaches_a_real_subscriber_in_one_message(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    live = LiveChannel(f"{redis_prefix}live")
    fanout = RecentAndLive(redis_client, _window(redis_client, redis_prefix), live=live)
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(live.channel)
    batch = _two_host_batch()
    await fanout.add(batch)
    messages = await _received(pubsub, until=2)
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert len(messages) == 1  # both hosts' frames in one message
    received = [orjson.loads(frame) for frame in split_live_bundle(messages[0])]
    expected = [
        orjson.loads(frame)
        for frame in split_live_bundle(encode_live_bundle(split_by_host(batch, {}), 0))
    ]
    assert [(f["host"], f["samples"], f["processes"]) for f in received] == [
        (f["host"], f["samples"], f["processes"]) for f in expected
    ]


async def test_live_and_alert_feed_go_out_together_and_live_learns_nobody_listened(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    live = LiveChannel(f"{redis_prefix}live")  # nobody subscribes to it
    feed = AlertFeed(f"{redis_prefix}alert-feed")
    busy = AlertRule(name="Busy", metric="system_cpu_utilization_ratio", matchers={"cpu": "0"})
    feed.wanted = SampleFilter([busy])
    fanout = RecentAndLive(
        redis_client, _window(redis_client, redis_prefix), live=live, alert_feed=feed
    )
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(feed.channel)
    await fanout.add(_two_host_batch())
    messages = await _received(pubsub)
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert len(messages) == 1  # both hosts in one alert feed message
    observed = sorted(
        (o.host, o.metric, o.value) for m in messages for o in observations_from_feed_message(m)
    )
    # web-1's cpu sample (the rule's), and for db-1 only that it was seen (for the stale rule)
    assert observed == [("db-1", "", 0.0), ("web-1", "system_cpu_utilization_ratio", 0.5)]
    assert not live.wanted()  # PUBLISH reached nobody: live pauses


async def test_window_and_live_channel_are_written_in_one_round_trip(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    window = _window(redis_client, redis_prefix)
    live = LiveChannel(f"{redis_prefix}live")
    both = RecentAndLive(redis_client, window, live=live)
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(live.channel)
    await both.add(IngestBatch("json", [Sample("warm", "m", {}, 1_000, 1.0)]))  # loads the script
    with redis_commands_sent(redis_client) as sent:
        await both.add(_two_host_batch())
    assert sent == ["EVALSHA"]
    frames: list[dict[str, Any]] = []
    for _ in range(200):
        message = await pubsub.get_message(timeout=0.05)
        if message is not None:
            frames += [orjson.loads(frame) for frame in split_live_bundle(message["data"])]
        if any(f["host"] != "warm" for f in frames):
            break
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert sorted(f["host"] for f in frames if f["host"] != "warm") == ["db-1", "web-1"]
    recent = await window.recent("web-1")
    assert [s.value for s in recent.samples] == [0.5, 0.25]
    assert [p.processes[0]["name"] for p in recent.process_snapshots] == ["nginx"]
    assert [host for host, _ in await window.hosts()] == ["db-1", "warm", "web-1"]
