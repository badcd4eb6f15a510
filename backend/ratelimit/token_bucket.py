"""A token bucket kept in Redis, so every backend process draws from the same bucket.

One Lua script does refill + take atomically on the Redis server (no race between processes);
time comes from Redis (`TIME`) so hosts with skewed clocks still agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

# KEYS[1] bucket hash; ARGV: capacity, refill tokens per second, cost.
# Returns {allowed (0/1), tokens left * 1000, ms until `cost` tokens are available}.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
local allowed = 0
local wait_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait_ms = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return {allowed, math.floor(tokens * 1000), wait_ms}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: float  # tokens left in the bucket
    retry_after_seconds: int  # whole seconds for the Retry-After header (0 when allowed)


class TokenBucketLimiter:
    """`capacity` requests in a burst, refilled at `rate_per_second`; one bucket per key."""

    def __init__(
        self, redis: aioredis.Redis, *, prefix: str, capacity: float, rate_per_second: float
    ) -> None:
        if capacity <= 0 or rate_per_second <= 0:
            raise ValueError("capacity and rate_per_second must be positive")
        self._redis = redis
        self._prefix = prefix
        self._capacity = capacity
        self._rate = rate_per_second
        self._script = redis.register_script(_TAKE)

    async def take(self, key: str, cost: float = 1.0) -> Decision:
        allowed, remaining_milli, wait_ms = await self._script(
            keys=[f"{self._prefix}ratelimit:{key}"], args=[self._capacity, self._rate, cost]
        )
        retry_after = 0 if allowed else max(1, math.ceil(int(wait_ms) / 1000))
        return Decision(bool(allowed), int(remaining_milli) / 1000, retry_after)
