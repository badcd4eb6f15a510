"""A token bucket kept in Redis, so every backend process draws from the same bucket.

One Lua script does refill + take atomically on the Redis server (no race between processes);
time comes from Redis (`TIME`) so hosts with skewed clocks still agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

# KEYS: one bucket hash per take (a key may repeat: takes apply in order). ARGV: capacity,
# refill tokens per second, then per key its cost and its debt (tokens already spent elsewhere,
# charged whatever the verdict). Returns per take
# {allowed (0/1), tokens left * 1000, ms until its cost is available}.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = math.ceil(capacity * 1000 / rate) + 1000
local out = {}
for i, key in ipairs(KEYS) do
  local cost = tonumber(ARGV[2 * i + 1])
  local debt = tonumber(ARGV[2 * i + 2])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local ts = tonumber(state[2])
  if tokens == nil then
    tokens = capacity
    ts = now
  end
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000) - debt
  local allowed = 0
  local wait_ms = 0
  if tokens >= cost then
    tokens = tokens - cost
    allowed = 1
  else
    wait_ms = math.ceil((cost - tokens) * 1000 / rate)
  end
  redis.call('HSET', key, 'tokens', tokens, 'ts', now)
  redis.call('PEXPIRE', key, ttl)
  out[i] = {allowed, math.floor(tokens * 1000), wait_ms}
end
return out
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
        (decision,) = await self.take_many([(key, cost)])
        return decision

    async def take_many(
        self, takes: Sequence[tuple[str, float]], debts: Sequence[float] | None = None
    ) -> list[Decision]:
        """Each (key, cost) in order, atomically, in one round trip; `debts[i]` tokens (spent
        without asking, see backend.ratelimit.limiters) are charged to take i's bucket first."""
        owed = debts if debts is not None else [0.0] * len(takes)
        args: list[float] = [self._capacity, self._rate]
        for (_, cost), debt in zip(takes, owed, strict=True):
            args += (cost, debt)
        replies = await self._script(
            keys=[f"{self._prefix}ratelimit:{key}" for key, _ in takes], args=args
        )
        return [_decision(*reply) for reply in replies]


def _decision(allowed: int, remaining_milli: int, wait_ms: int) -> Decision:
    retry_after = 0 if allowed else max(1, math.ceil(int(wait_ms) / 1000))
    return Decision(bool(allowed), int(remaining_milli) / 1000, retry_after)
