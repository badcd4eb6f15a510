"""The Redis token bucket, against the real Redis, with two clients standing for two processes."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from backend.ratelimit.token_bucket import TokenBucketLimiter


async def test_burst_over_the_limit_across_two_clients_is_refused_with_retry_after(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    other = aioredis.Redis.from_url(redis_url)
    try:
        first, second = (
            TokenBucketLimiter(client, prefix=redis_prefix, capacity=10, rate_per_second=1)
            for client in (redis_client, other)
        )
        decisions = await asyncio.gather(
            *[(first if i % 2 else second).take("agent:7") for i in range(16)]
        )
    finally:
        await other.aclose()
    allowed = [d for d in decisions if d.allowed]
    refused = [d for d in decisions if not d.allowed]
    assert len(allowed) == 10
    assert len(refused) == 6
    assert all(d.retry_after_seconds >= 1 for d in refused)


async def test_under_the_limit_nothing_is_refused(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    limiter = TokenBucketLimiter(redis_client, prefix=redis_prefix, capacity=5, rate_per_second=50)
    for _ in range(20):
        decision = await limiter.take("login:127.0.0.1")
        assert decision.allowed
        await asyncio.sleep(0.03)  # 33 req/s against a 50/s refill


async def test_buckets_are_per_key(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    limiter = TokenBucketLimiter(redis_client, prefix=redis_prefix, capacity=1, rate_per_second=0.1)
    assert (await limiter.take("a")).allowed
    assert not (await limiter.take("a")).allowed
    refused = await limiter.take("a")
    assert refused.retry_after_seconds == 10
    assert (await limiter.take("b")).allowed


def test_rejects_nonsense_limits(redis_client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucketLimiter(redis_client, prefix="x:", capacity=0, rate_per_second=1)


async def test_many_takes_in_one_round_trip_apply_in_order_per_key(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    limiter = TokenBucketLimiter(
        redis_client, prefix=redis_prefix, capacity=2, rate_per_second=0.01
    )
    decisions = await limiter.take_many([("a", 1), ("b", 1), ("a", 1), ("a", 1), ("b", 1)])
    assert [d.allowed for d in decisions] == [True, True, True, False, True]
    assert [d.remaining for d in decisions][:3] == pytest.approx([1.0, 1.0, 0.0], abs=0.01)
    assert decisions[3].retry_after_seconds >= 1
