"""Drop agent reports seen recently: a retry after a lost response must not store a report twice.

Redis `SET key 1 NX EX ttl` per (instance_id, seq), not an in-process LRU: with several backend
workers or processes a retry may land on another one, and Redis is shared by all of them.
A report is claimed before it is stored and released if storing fails, so a
503-then-retry is never dropped. With Redis away, everything counts as new (at-least-once beats
losing data), and Redis is not asked again for `pause_seconds` so requests don't wait on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from backend.round_trips import SharedRoundTrip

log = logging.getLogger(__name__)

DEDUP_TTL_SECONDS = 600  # longer than any sane retry schedule of the agent's spool
# SET key 1 NX EX ttl for every key in one EVALSHA (a pipeline costs client CPU per command).
_CLAIM = """
local claimed = {}
for i, key in ipairs(KEYS) do
  claimed[i] = redis.call('SET', key, '1', 'NX', 'EX', ARGV[1]) and 1 or 0
end
return claimed
"""


class ReportDeduplicator:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        *,
        ttl_seconds: int = DEDUP_TTL_SECONDS,
        pause_seconds: float = 5.0,
        max_wait_seconds: float = 0.5,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._pause = pause_seconds
        # The client's own reconnect retries can take seconds; an ingest request must not.
        self._max_wait = max_wait_seconds
        self._skip_until = 0.0
        self._down = False  # logged once per outage, not once per request
        self._claim_script = redis.register_script(_CLAIM)
        self._claims = SharedRoundTrip(
            self._claim_all, name="dedup-claims", on_abandoned=self._release_claimed
        )

    def _key(self, instance_id: str, seq: int) -> str:
        return f"{self._prefix}dedup:{instance_id}:{seq}"

    async def claim(self, keys: Sequence[tuple[str, int]]) -> list[bool]:
        """For each (instance_id, seq): True when new (now claimed), False when seen recently.
        Concurrent requests share round trips (backend.round_trips)."""
        if not keys or time.monotonic() < self._skip_until:
            return [True] * len(keys)
        return await self._claims(keys)

    async def _release_claimed(self, keys: Sequence[tuple[str, int]], new: list[bool]) -> None:
        """A cancelled request's claims: free them for the agent's retry."""
        await self.release([key for key, claimed in zip(keys, new, strict=True) if claimed])

    async def _claim_all(self, keys: list[tuple[str, int]]) -> list[bool]:
        if time.monotonic() < self._skip_until:
            return [True] * len(keys)
        try:
            async with asyncio.timeout(self._max_wait):
                names = [self._key(instance_id, seq) for instance_id, seq in keys]
                results = await self._claim_script(keys=names, args=[self._ttl])
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return [True] * len(keys)
        if self._down:
            self._down = False
            log.info("duplicate check back: Redis reachable again")
        return [bool(result) for result in results]

    async def release(self, keys: Sequence[tuple[str, int]]) -> None:
        """Forget claims whose reports were not stored, so the agent's retry is accepted."""
        if not keys:  # tried even while Redis seems away: a claim may have landed before a timeout
            return
        try:
            async with asyncio.timeout(self._max_wait):
                await self._redis.delete(*(self._key(i, s) for i, s in keys))
        except (RedisError, OSError, TimeoutError) as exc:
            # The retry of these reports within the TTL would be taken for a duplicate.
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self._skip_until = time.monotonic() + self._pause
        if not self._down:
            self._down = True
            log.warning("duplicate check off while Redis is unreachable (%s)", exc)
