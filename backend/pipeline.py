"""Where every accepted batch goes: the PostgreSQL writer queue, the Redis recent window and the
live channel. PostgreSQL is the record; Redis being away only costs the live view some samples."""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from backend.live.redis_bridge import PUBLISH_GROUPS_LUA, BatchPublisher, publish_args
from backend.model import IngestBatch, concat
from backend.round_trips import SharedRoundTrip
from backend.self_metrics import BackendMetrics
from backend.storage.redis_window import ADD_FRAMES_LUA, RecentWindow

log = logging.getLogger(__name__)


class BatchQueue(Protocol):
    def enqueue(self, batch: IngestBatch) -> None:
        """Queue for PostgreSQL; raises Overloaded when full."""


class RedisSide(Protocol):
    async def add(self, batch: IngestBatch) -> None:
        """Recent window and live channels; raises RedisError (or OSError) when Redis is away."""


class RecentAndLive:
    """The recent window and every live channel (WebSocket fan-out, alert feed) for a batch, in
    one EVALSHA: each Redis round trip costs the worker ~0.1-0.3 ms of CPU, more than the rest of
    this step."""

    def __init__(self, redis: aioredis.Redis, window: RecentWindow, publisher: BatchPublisher):
        self._window = window
        self._publisher = publisher
        # ARGV[1]: how many ARGV entries after it are the window's; the publish groups follow.
        both = "local w = tonumber(ARGV[1])\nif #KEYS > 0 then add_frames(1) end\n"
        self._script = redis.register_script(
            ADD_FRAMES_LUA + PUBLISH_GROUPS_LUA + both + "return publish_groups(2 + w)"
        )

    async def add(self, batch: IngestBatch) -> None:
        window = self._window.add_args(batch)
        groups = self._publisher.groups(batch)
        if window is None and not groups:
            return
        keys, window_args = window if window is not None else ([], [])
        args = [len(window_args), *window_args, *publish_args(groups)]
        self._publisher.delivered(groups, await self._script(keys=keys, args=args))


class RedisGate:
    """After a Redis failure, skip Redis for `pause` seconds so ingest doesn't wait on a dead
    server for every request; then try again (the client reconnects by itself)."""

    def __init__(self, pause: float = 1.0) -> None:
        self._pause = pause
        self._closed_until = 0.0
        self.down = False

    def is_open(self, now: float) -> bool:
        return now >= self._closed_until

    def failed(self, now: float) -> None:
        self._closed_until = now + self._pause
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
    ) -> None:
        self._writer = writer
        self._redis_side = redis_side
        self._metrics = metrics
        self._gate = RedisGate(redis_retry_pause)
        self._max_waiting = max_waiting_batches
        self._to_redis_shared = SharedRoundTrip(self._to_redis_merged, name="redis-flush")
        self.redis_skipped_batches = 0

    async def accept(self, batch: IngestBatch) -> None:
        """Queue for PostgreSQL (raises Overloaded), then update the window and publish live."""
        self._writer.enqueue(batch)
        self._metrics.ingest_request(batch.protocol)
        if not self._gate.is_open(time.monotonic()):
            self.redis_skipped_batches += 1
            return
        if self._to_redis_shared.waiting >= self._max_waiting:
            self.redis_skipped_batches += 1
            return
        await self._to_redis_shared([batch])

    async def _to_redis_merged(self, batches: list[IngestBatch]) -> list[None]:
        try:
            await self._to_redis(merge(batches), len(batches))
        except Exception:  # the batches are queued for PostgreSQL: their requests must succeed
            log.exception("recent window / live update failed")
            self.redis_skipped_batches += len(batches)
        return [None] * len(batches)

    async def _to_redis(self, batch: IngestBatch, batches: int) -> None:
        if not self._gate.is_open(time.monotonic()):
            self.redis_skipped_batches += batches
            return
        try:
            await self._redis_side.add(batch)
        except (TimeoutError, RedisError, OSError) as exc:
            if not self._gate.down:
                log.warning("Redis unavailable (%s): recent window and live view paused", exc)
            self._gate.failed(time.monotonic())
            self._metrics.redis_error("ingest")
            self.redis_skipped_batches += batches
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
