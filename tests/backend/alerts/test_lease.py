"""The Redis lease that picks the one evaluating process (real Redis)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from backend.alerts.lease import RedisLease


async def test_one_holder_at_a_time_and_the_next_takes_over_on_release_or_expiry(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}alerting:leader"
    first = RedisLease(redis_client, key, ttl_seconds=0.3)
    second = RedisLease(redis_client, key, ttl_seconds=0.3)
    assert await first.acquire_or_renew()
    assert not await second.acquire_or_renew()
    assert await first.acquire_or_renew()  # renewing keeps it
    assert await first.still_held()
    await second.release()  # not the holder: nothing happens
    assert await first.still_held()

    await first.release()
    assert await second.acquire_or_renew()
    assert not await first.still_held()

    await asyncio.sleep(0.5)  # the holder stopped renewing: the lease expires
    assert await first.acquire_or_renew()
    assert not await second.still_held()
