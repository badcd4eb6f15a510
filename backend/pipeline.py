"""Where every accepted batch goes: the PostgreSQL writer queue, the Redis recent window and the
live channel. PostgreSQL is the record; Redis being away only costs the live view some samples.

`accept` returns only once the batch is committed in PostgreSQL: a sender told "stored" never
loses the batch to a killed process. Not committed within `commit_timeout` (PostgreSQL away or
slow) → NotCommitted, a 503 with Retry-After; the batch stays queued and is written later, so
the sender's retry finds it stored (agent reports are deduplicated, samples are idempotent)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from redis.exceptions import RedisError

from backend.model import IngestBatch, Overloaded, concat
from backend.round_trips import SharedRoundTrip
from backend.self_metrics import BackendMetrics

log = logging.getLogger(__name__)


class BatchQueue(Protocol):
    def enqueue(self, batch: IngestBatch) -> asyncio.Future[None]:
        """Queue for PostgreSQL; raises Overloaded when full. Done when committed."""


class NotCommitted(Overloaded):
    """Queued, but not committed within the commit timeout: answer 503 with Retry-After. The
    batch is still queued; `committed` tells when (or whether) it is stored."""

    def __init__(self, retry_after_seconds: int, committed: asyncio.Future[None]) -> None:
        super().__init__(retry_after_seconds)
        self.args = (
            f"not yet stored in PostgreSQL (it may be away); retry after {retry_after_seconds}s",
        )
        self.committed = committed


class RedisSide(Protocol):
    async def add(self, batch: IngestBatch) -> None:
        """Recent window and live channels (`backend.fanout.redis_script.RecentAndLive`); raises
        RedisError (or OSError) when Redis is away."""


class RedisGate:
    """After a Redis failure, skip Redis for `pause` seconds so ingest doesn't wait on a dead
    server for every request; then try again (the client reconnects by itself)."""

    def __init__(self, pause: float = 1.0) -> None:
        self._pause = pause
        self._paused_until = 0.0
        self.down = False

    def allows(self, now: float) -> bool:
        """False while paused after a failure."""
        return now >= self._paused_until

    def failed(self, now: float) -> None:
        self._paused_until = now + self._pause
        self.down = True

    def succeeded(self) -> bool:
        """True when this success ends an outage."""
        recovered, self.down = self.down, False
        return recovered


class IngestPipeline:
    """Concurrent requests share Redis round trips (backend.round_trips): while one window
    update + publish is in flight, newer batches wait and then go together, merged, in the next
    one. Under load that is most of the per-request Redis cost."""

    def __init__(
        self,
        writer: BatchQueue,
        redis_side: RedisSide,
        metrics: BackendMetrics,
        *,
        redis_retry_pause: float = 1.0,
        max_waiting_batches: int = 10_000,
        forward: Callable[[IngestBatch], None] | None = None,
        commit_timeout: float = 3.0,
    ) -> None:
        if not commit_timeout > 0:
            raise ValueError(f"commit_timeout must be > 0 seconds, got {commit_timeout!r}")
        self._writer = writer
        self._commit_timeout = commit_timeout
        self._redis_side = redis_side
        self._metrics = metrics
        self._gate = RedisGate(redis_retry_pause)
        self._max_waiting = max_waiting_batches
        self._forward = forward  # backend.forward.outbox.Outbox.offer: never blocks, never raises
        self._to_redis_shared = SharedRoundTrip(self._to_redis_merged, name="redis-flush")

    async def accept(self, batch: IngestBatch) -> None:
        """Queue for PostgreSQL (raises Overloaded), hand to forwarding, update the window and
        publish live, then wait for the commit (raises NotCommitted after `commit_timeout`).
        Every ingest path reaches this point once per accepted batch."""
        committed = self._writer.enqueue(batch)
        await self._fan_out(batch)  # never raises: Redis failures only cost the live view
        await self._wait_committed(committed)

    async def _wait_committed(self, committed: asyncio.Future[None]) -> None:
        if committed.done():
            committed.result()
            return
        try:
            await asyncio.wait_for(asyncio.shield(committed), self._commit_timeout)
        except TimeoutError:
            raise NotCommitted(max(1, math.ceil(self._commit_timeout)), committed) from None

    async def _fan_out(self, batch: IngestBatch) -> None:
        self._metrics.ingest_request(batch.protocol)
        if self._forward is not None:
            self._forward(batch)
        # Checked here so that during an outage a request does not even queue for the shared
        # round trip (a cheap refusal per request instead of a wait behind a doomed one)...
        if not self._gate.allows(time.monotonic()):
            self._metrics.redis_skipped(1)
            return
        if self._to_redis_shared.waiting >= self._max_waiting:
            self._metrics.redis_skipped(1)
            return
        await self._to_redis_shared([batch])

    async def _to_redis_merged(self, batches: list[IngestBatch]) -> list[None]:
        try:
            await self._to_redis(merge(batches), len(batches))
        except Exception:  # the batches are queued for PostgreSQL: their requests must succeed
            log.exception("recent window / live update failed")
            self._metrics.redis_skipped(len(batches))
        return [None] * len(batches)

    async def _to_redis(self, batch: IngestBatch, batches: int) -> None:
        # ...and again here: batches that queued behind the round trip that failed must not try
        # Redis once more when their turn comes (each would wait out its own timeout).
        if not self._gate.allows(time.monotonic()):
            self._metrics.redis_skipped(batches)
            return
        try:
            await self._redis_side.add(batch)
        except (TimeoutError, RedisError, OSError) as exc:
            if not self._gate.down:
                log.warning("Redis unavailable (%s): recent window and live view paused", exc)
            self._gate.failed(time.monotonic())
            self._metrics.redis_error("ingest")
            self._metrics.redis_skipped(batches)
        else:
            if self._gate.succeeded():
                log.info("Redis is back: recent window and live view resumed")


def merge(batches: list[IngestBatch]) -> IngestBatch:
    """One batch holding every sample and snapshot of `batches`, in order."""
    if len(batches) == 1:
        return batches[0]
    return IngestBatch(
        protocol=batches[0].protocol,
        samples=concat([b.samples for b in batches]),
        process_snapshots=[p for b in batches for p in b.process_snapshots],
    )
