"""The live channel: bundles pause while no process anywhere listens, and resume by themselves."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from backend.fanout.redis_script import RecentAndLive
from backend.live.redis_bridge import LiveChannel
from backend.model import IngestBatch, Sample
from backend.storage.redis_window import RecentWindow


class CountingChannel(LiveChannel):
    """Counts the bundles actually published (`delivered` follows each one)."""

    published = 0

    def delivered(self, receivers: int) -> None:
        self.published += 1
        super().delivered(receivers)


def _batch(i: int) -> IngestBatch:
    return IngestBatch("json", [Sample("h", "m", {}, 1_000 + i, float(i))])


async def test_publishing_pauses_while_nobody_listens_anywhere(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    local = {"clients": False}
    live = CountingChannel(
        f"{redis_prefix}live", local_listeners=lambda: local["clients"], idle_recheck=0.2
    )
    window = RecentWindow(redis_client, prefix=redis_prefix, window_seconds=300)
    fanout = RecentAndLive(redis_client, window, live=live)
    await fanout.add(_batch(1))
    await fanout.add(_batch(2))
    assert live.published == 1  # PUBLISH reached nobody: the next one is skipped
    local["clients"] = True
    await fanout.add(_batch(3))
    assert live.published == 2  # a client of this process never waits for the recheck
    local["clients"] = False
    await asyncio.sleep(0.25)
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    await listener.subscribe(live.channel)  # a process elsewhere with a WebSocket client
    try:
        await fanout.add(_batch(4))
        await fanout.add(_batch(5))
    finally:
        await listener.aclose()  # type: ignore[no-untyped-call]
    assert live.published == 4
