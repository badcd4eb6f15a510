"""A Redis lease: at most one backend process holds it (SET NX PX) and renews it while alive."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

# Renew or release only if the lease is still ours: never extend another holder's lease.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLease:
    def __init__(self, redis: aioredis.Redis, key: str, ttl_seconds: float) -> None:
        self._redis = redis
        self.key = key
        self._ttl_ms = max(int(ttl_seconds * 1000), 100)
        self.token = uuid.uuid4().hex

    async def acquire_or_renew(self) -> bool:
        """True while this process holds the lease (taking it when free)."""
        renewed = await self._redis.eval(_RENEW, 1, self.key, self.token, self._ttl_ms)
        if renewed:
            return True
        taken = await self._redis.set(self.key, self.token, nx=True, px=self._ttl_ms)
        return bool(taken)

    async def still_held(self) -> bool:
        holder = await self._redis.get(self.key)
        return (
            holder is not None
            and (holder.decode() if isinstance(holder, bytes) else holder) == self.token
        )

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, self.key, self.token)
