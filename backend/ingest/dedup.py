"""Drop agent reports seen recently: a retry after a lost response must not store a report twice.

Redis entries per (instance_id, seq), not an in-process LRU: with several backend workers or
processes a retry may land on another one, and Redis is shared by all of them.

An entry is `p:<process>` while its report is being stored (claimed, not committed yet) and
`s` once PostgreSQL holds it. A retry meeting `s` is a duplicate; meeting a claim of a live
process it is told to retry later (BUSY: the first attempt may still commit or fail); meeting a
claim of a process that is gone (its heartbeat key expired: killed, crashed) it takes the claim
over, because the killed process never answered for that report. A claim is released if storing
fails, so a 503-then-retry is never dropped. With Redis away, everything counts as new
(at-least-once beats losing data), and Redis is not asked again for `pause_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from backend.round_trips import SharedRoundTrip

log = logging.getLogger(__name__)

DEDUP_TTL_SECONDS = 600  # longer than any sane retry schedule of the agent's spool
HEARTBEAT_SECONDS = 2.0  # each process refreshes its heartbeat key this often...
HEARTBEAT_TTL_SECONDS = 8  # ...and its claims are taken over this long after it stopped
_MINE = 3  # the script's answer for a claim held by this very process
_STORED_MEMORY = 10_000  # stored reports whose `s` mark could not be written (Redis away)

# KEYS: the entries. ARGV: ttl, this process, heartbeat key prefix, heartbeat ttl.
# Per key: 1 new (claimed now), 0 stored already, 2 claimed by a live process, 3 claimed by us.
_CLAIM = """
redis.call('SET', ARGV[3] .. ARGV[2], '1', 'EX', ARGV[4])
local mine = 'p:' .. ARGV[2]
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, mine, 'EX', ARGV[1])
    out[i] = 1
  elseif string.sub(v, 1, 2) ~= 'p:' then
    out[i] = 0
  elseif v == mine then
    out[i] = 3
  elseif redis.call('EXISTS', ARGV[3] .. string.sub(v, 3)) == 0 then
    redis.call('SET', key, mine, 'EX', ARGV[1])
    out[i] = 1
  else
    out[i] = 2
  end
end
return out
"""
# KEYS: entries whose reports are committed. ARGV: ttl.
_STORED = """
for _, key in ipairs(KEYS) do
  redis.call('SET', key, 's', 'EX', ARGV[1])
end
return #KEYS
"""


class Claim(enum.IntEnum):
    """What `claim` found for a report (NEW == True and SEEN == False, as before)."""

    SEEN = 0  # stored already: acknowledge without storing again
    NEW = 1  # claimed by this request: store it, then `stored` or `release`
    BUSY = 2  # another request is storing it right now: tell the sender to retry shortly


class ReportDeduplicator:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        *,
        ttl_seconds: int = DEDUP_TTL_SECONDS,
        pause_seconds: float = 5.0,
        max_wait_seconds: float = 0.5,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._pause = pause_seconds
        # The client's own reconnect retries can take seconds; an ingest request must not.
        self._max_wait = max_wait_seconds
        self._skip_until = 0.0
        self._down = False  # logged once per outage, not once per request
        self._me = uuid.uuid4().hex
        self._heartbeat_every = heartbeat_seconds
        self._heartbeat_ttl = max(1, round(heartbeat_seconds * 4))
        self._heartbeat: asyncio.Task[None] | None = None
        self._pending: set[tuple[str, int]] = set()  # claimed by this process, not settled
        # Committed, but the `s` mark failed: our own leftover claim means "seen".
        self._stored_unmarked: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._claim_script = redis.register_script(_CLAIM)
        self._stored_script = redis.register_script(_STORED)
        self._claims = SharedRoundTrip(
            self._claim_all, name="dedup-claims", on_abandoned=self._release_claimed
        )
        self._marks: SharedRoundTrip[tuple[str, int], None] = SharedRoundTrip(
            self._mark_all, name="dedup-stored"
        )

    def _key(self, instance_id: str, seq: int) -> str:
        return f"{self._prefix}dedup:{instance_id}:{seq}"

    def _heartbeat_key(self) -> str:
        return f"{self._prefix}dedup-owner:{self._me}"

    async def claim(self, keys: Sequence[tuple[str, int]]) -> list[Claim]:
        """For each (instance_id, seq): NEW (claimed now), SEEN (stored) or BUSY (being stored
        by another request). A key repeated within `keys` is SEEN after its first time.
        Concurrent requests share round trips (backend.round_trips)."""
        if not keys:
            return []
        self._start_heartbeat()
        unique = list(dict.fromkeys(keys))
        if time.monotonic() < self._skip_until:
            found = dict.fromkeys(unique, Claim.NEW)
        else:
            found = dict(zip(unique, await self._claims(unique), strict=True))
        answers: list[Claim] = []
        first: set[tuple[str, int]] = set()
        for key in keys:
            answers.append(found[key] if key not in first else Claim.SEEN)
            first.add(key)
        return answers

    async def stored(self, keys: Sequence[tuple[str, int]]) -> None:
        """These claimed reports are committed: later retries are duplicates. Concurrent
        requests share round trips, as claims do."""
        if not keys:
            return
        self._pending.difference_update(keys)
        await self._marks(keys)

    async def _mark_all(self, keys: list[tuple[str, int]]) -> list[None]:
        if time.monotonic() >= self._skip_until:
            try:
                async with asyncio.timeout(self._max_wait):
                    names = [self._key(i, s) for i, s in keys]
                    await self._stored_script(keys=names, args=[self._ttl])
                return [None] * len(keys)
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed(exc)
        for key in keys:  # our claim stays in Redis: remember what it means
            self._stored_unmarked[key] = None
        while len(self._stored_unmarked) > _STORED_MEMORY:
            self._stored_unmarked.popitem(last=False)
        return [None] * len(keys)

    def settle_when(self, keys: Sequence[tuple[str, int]], committed: asyncio.Future[None]) -> None:
        """Mark `keys` stored (or release them) once `committed` is done: for a request that
        answered before its batch was written (503 while PostgreSQL was away)."""
        if not keys:
            return
        claimed = list(keys)

        def settle(done: asyncio.Future[None]) -> None:
            ok = not done.cancelled() and done.exception() is None
            task = self.stored(claimed) if ok else self.release(claimed)
            asyncio.get_running_loop().create_task(task, name="dedup-settle")

        committed.add_done_callback(settle)

    async def _release_claimed(self, keys: Sequence[tuple[str, int]], new: list[Claim]) -> None:
        """A cancelled request's claims: free them for the agent's retry."""
        await self.release([key for key, claimed in zip(keys, new, strict=True) if claimed == 1])

    async def _claim_all(self, keys: list[tuple[str, int]]) -> list[Claim]:
        if time.monotonic() < self._skip_until:
            return [Claim.NEW] * len(keys)
        try:
            async with asyncio.timeout(self._max_wait):
                names = [self._key(instance_id, seq) for instance_id, seq in keys]
                owners = f"{self._prefix}dedup-owner:"
                args: list[str | int] = [self._ttl, self._me, owners, self._heartbeat_ttl]
                results = await self._claim_script(keys=names, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return [Claim.NEW] * len(keys)
        if self._down:
            self._down = False
            log.info("duplicate check back: Redis reachable again")
        answers: list[Claim] = []
        for key, result in zip(keys, results, strict=True):
            answer = self._decide(key, int(result))
            if answer == Claim.NEW:  # in order: the same report later in this round is BUSY
                self._pending.add(key)
            answers.append(answer)
        return answers

    def _decide(self, key: tuple[str, int], result: int) -> Claim:
        if result != _MINE:
            return Claim(result)
        if key in self._pending:  # a retry while the first attempt is still being stored
            return Claim.BUSY
        if key in self._stored_unmarked:
            return Claim.SEEN
        return Claim.NEW  # a leftover claim of ours whose release failed: store it now

    async def release(self, keys: Sequence[tuple[str, int]]) -> None:
        """Forget claims whose reports were not stored, so the agent's retry is accepted."""
        if not keys:  # tried even while Redis seems away: a claim may have landed before a timeout
            return
        self._pending.difference_update(keys)
        try:
            async with asyncio.timeout(self._max_wait):
                await self._redis.delete(*(self._key(i, s) for i, s in keys))
        except (RedisError, OSError, TimeoutError) as exc:
            # Our claim stays; being ours and not pending, a retry of it is taken as new.
            self._failed(exc)

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(
                self._beat_forever(), name="dedup-heartbeat"
            )

    async def _beat_forever(self) -> None:
        """Keeps this process's claims from being taken over while it is alive."""
        while True:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(self._max_wait):
                    await self._redis.set(self._heartbeat_key(), "1", ex=self._heartbeat_ttl)
            await asyncio.sleep(self._heartbeat_every)

    async def aclose(self) -> None:
        """Stop the heartbeat (its key expires by itself)."""
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _failed(self, exc: BaseException) -> None:
        self._skip_until = time.monotonic() + self._pause
        if not self._down:
            self._down = True
            log.warning("duplicate check off while Redis is unreachable (%s)", exc)
