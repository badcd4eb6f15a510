"""ChannelListener against the real Redis: messages handed on, on-demand subscription."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from backend.redis_channel import ChannelListener
from tests.backend.running import wait_for


async def test_an_always_on_listener_hands_every_message_on(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    channel = f"{redis_prefix}ch"
    received: list[bytes] = []
    listener = ChannelListener(redis_url, channel, received.append, name="test")
    listener.start()
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 5)
        for n in range(3):
            await redis_client.publish(channel, f"m{n}")

        async def all_three() -> bool:
            return len(received) == 3

        await wait_for(all_three, within=5, what="three messages")
        assert received == [b"m0", b"m1", b"m2"]
    finally:
        await listener.stop()
    assert not listener.subscribed.is_set()


async def test_an_on_demand_listener_subscribes_when_needed_and_leaves_when_idle(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    channel = f"{redis_prefix}ch"
    needed = asyncio.Event()
    listener = ChannelListener(
        redis_url,
        channel,
        lambda _message: None,
        name="test",
        until_needed=needed.wait,
        still_needed=needed.is_set,
        idle_unsubscribe=0.2,
    )
    listener.start()
    try:
        await asyncio.sleep(0.2)
        assert await redis_client.publish(channel, "nobody") == 0  # not needed: not subscribed
        needed.set()
        await asyncio.wait_for(listener.subscribed.wait(), 5)
        assert await redis_client.publish(channel, "hello") == 1
        needed.clear()

        # get_message wakes at least every second; then 0.2 s idle ends the subscription
        async def unsubscribed() -> bool:
            return not listener.subscribed.is_set()

        await wait_for(unsubscribed, within=5, what="the idle listener to unsubscribe")
        assert await redis_client.publish(channel, "gone") == 0
    finally:
        await listener.stop()


async def test_each_subscription_first_lets_its_owner_catch_up(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    """A message published before the subscription started is missed by pub/sub: the owner's
    `on_subscribed` runs once subscribed, so it can read what was stored meanwhile."""
    channel = f"{redis_prefix}ch"
    caught_up: list[bool] = []

    async def catch_up() -> None:
        caught_up.append(listener.subscribed.is_set())

    listener = ChannelListener(
        redis_url, channel, lambda _message: None, name="test", on_subscribed=catch_up
    )
    listener.start()
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 5)

        async def called() -> bool:
            return bool(caught_up)

        await wait_for(called, within=5, what="on_subscribed")
        assert caught_up == [True]  # once, after the subscription was in place
    finally:
        await listener.stop()
