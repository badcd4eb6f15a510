"""Redis pub/sub between backend processes: publish accepted batches, subscribe once per process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from backend.live.hub import LiveHub
from backend.live.messages import encode_frames, host_frames
from backend.model import IngestBatch
from backend.self_metrics import BackendMetrics
from backend.storage.sample_columns import SampleColumns

log = logging.getLogger(__name__)

_BACKOFF_INITIAL = 0.1
_BACKOFF_MAX = 2.0
# ARGV: channel, then frames. Returns the most receivers any frame had.
_PUBLISH_ALL = """
local most = 0
for i = 2, #ARGV do
  most = math.max(most, redis.call('PUBLISH', ARGV[1], ARGV[i]))
end
return most
"""


def live_channel(prefix: str) -> str:
    return f"{prefix}live"


class LivePublisher:
    """Publishes accepted batches, unless nobody anywhere is listening.

    Backend processes subscribe only while they have WebSocket clients, so PUBLISH answering 0
    means no dashboard is open: publishing then pauses for `idle_recheck` seconds (a new client
    elsewhere sees frames after at most that long; one here, at once).
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        channel: str,
        *,
        local_listeners: Callable[[], bool] = lambda: False,
        idle_recheck: float = 1.0,
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._local_listeners = local_listeners
        self._idle_recheck = idle_recheck
        self._idle_until = 0.0
        self._publish_all: AsyncScript | None = None  # registered on first use

    async def publish(self, batch: IngestBatch) -> None:
        """One frame per host, all in one round trip. Raises RedisError when Redis is away."""
        if time.monotonic() < self._idle_until and not self._local_listeners():
            return
        frames = encode_live_frames(batch, accepted_ms=int(time.time() * 1000))
        if len(frames) == 1:
            receivers = int(await self._redis.publish(self._channel, frames[0]))
        elif frames:  # one EVALSHA instead of a pipeline of PUBLISHes: far less client CPU
            if self._publish_all is None:
                self._publish_all = self._redis.register_script(_PUBLISH_ALL)
            receivers = int(await self._publish_all(keys=[], args=[self._channel, *frames]))
        else:
            return
        self._idle_until = time.monotonic() + self._idle_recheck if receivers == 0 else 0.0


def encode_live_frames(batch: IngestBatch, accepted_ms: int) -> list[bytes]:
    """`encode_frames`, byte for byte, straight from sample columns (no Sample objects)."""
    if not isinstance(batch.samples, SampleColumns):
        return encode_frames(batch, accepted_ms)
    columns = batch.samples
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, labels, time_ms, value in zip(
        columns.keys, columns.labels, columns.times, columns.values, strict=True
    ):
        by_host[key[1]].append(
            {
                "name": key[0],
                "labels": labels if type(labels) is dict else dict(labels),
                "time_ms": time_ms,
                "value": value,
            }
        )
    return host_frames(by_host, batch.process_snapshots, accepted_ms)


class LiveSubscriber:
    """Holds one subscription to the live channel while the hub has clients, feeding the hub;
    reconnects by itself after Redis errors."""

    def __init__(
        self,
        redis_url: str,
        channel: str,
        hub: LiveHub,
        metrics: BackendMetrics | None = None,
        *,
        idle_unsubscribe: float = 10.0,
    ) -> None:
        self._redis_url = redis_url
        self._channel = channel
        self._hub = hub
        self._metrics = metrics
        self._idle_unsubscribe = idle_unsubscribe
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.reconnects = 0
        self._was_subscribed = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-subscriber")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        backoff = _BACKOFF_INITIAL
        while True:
            await self._hub.has_clients.wait()
            self._was_subscribed = False
            try:
                await self._listen()
            except (RedisError, OSError, TimeoutError) as exc:
                self.reconnects += 1
                if self._metrics is not None:
                    self._metrics.redis_error("subscribe")
                # A connection that worked for a while starts the backoff over.
                backoff = _BACKOFF_INITIAL if self._was_subscribed else backoff
                log.warning("live subscription lost (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _listen(self) -> None:
        """Subscribed until the hub has had no clients for `idle_unsubscribe` seconds."""
        # A dedicated client: a subscribed connection cannot run other commands.
        client = aioredis.Redis.from_url(
            self._redis_url, socket_connect_timeout=2, health_check_interval=10
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            self.subscribed.set()
            self._was_subscribed = True
            if self.reconnects:
                log.info("live subscription restored")
            idle_since: float | None = None
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "message":
                    self._hub.dispatch(message["data"])
                if self._hub.client_count:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self._idle_unsubscribe:
                    return
        finally:
            self.subscribed.clear()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()
