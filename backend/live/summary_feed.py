"""This process's fleet summaries for its `/ws` clients: while any client wants them, subscribed to
the summary channel (every process publishes one summary bundle per accepted batch), the
`FleetTable` kept current from it and from alert transitions, and one `summaries` message of the
changed hosts sent every `flush_interval`. A client that subscribes first gets the whole fleet,
read from the summaries hash in Redis, so a process that has just started knows every host."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import cast

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from backend.live.hub import LiveClient, LiveHub
from backend.live.summary import FleetTable
from backend.redis_channel import ChannelListener
from backend.self_metrics import BackendMetrics

# (rule, labels, state) of each pending or firing alert, as stored.
AlertLoader = Callable[[], Awaitable[Iterable[tuple[str, Mapping[str, str], str]]]]


def summary_channel(prefix: str) -> str:
    return f"{prefix}live-summary"


def _now_ms() -> int:
    return int(time.time() * 1000)


class SummaryFeed:
    def __init__(
        self,
        redis_url: str,
        redis: aioredis.Redis,
        *,
        channel: str,
        summaries_key: str,
        hub: LiveHub,
        stale_after: float,
        flush_interval: float,
        load_alerts: AlertLoader,
        metrics: BackendMetrics | None = None,
    ) -> None:
        self._redis = redis
        self._summaries_key = summaries_key
        self._hub = hub
        self._flush_interval = flush_interval
        self._load_alerts = load_alerts
        self.table = FleetTable(int(stale_after * 1000))
        self.listener = ChannelListener(
            redis_url,
            channel,
            self.table.add_reports,
            name="summary-subscriber",
            until_needed=hub.summaries_wanted.wait,
            still_needed=lambda: hub.summary_client_count > 0,
            on_error=(lambda: metrics.redis_error("subscribe")) if metrics is not None else None,
            on_subscribed=self._catch_up,
        )
        self._flusher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.listener.start()
        self._flusher = asyncio.create_task(self._flush_forever(), name="summary-flush")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.listener.stop()

    def on_alert(self, message: bytes) -> None:
        """An alert transition (every process hears them all)."""
        self.table.apply_alert(message)

    async def _catch_up(self) -> None:
        """Reports published before this subscription started (or while it was lost) were not
        heard: take the stored ones that are newer than what the table has."""
        with contextlib.suppress(RedisError, OSError):
            stored = await self._redis.hvals(self._summaries_key)
            self.table.catch_up(cast(list[bytes], stored))

    async def welcome(self, client: LiveClient) -> None:
        """The whole fleet for a client that just subscribed to the summaries: the stored
        summaries and alerts (the channel, once subscribed, keeps them current)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listener.subscribed.wait(), 2.0)
        with contextlib.suppress(RedisError, OSError):
            stored = await self._redis.hvals(self._summaries_key)
            self.table.replace_reports(cast(list[bytes], stored), _now_ms())
        # PostgreSQL away: the counts follow the transitions heard since.
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            self.table.load_alerts(await self._load_alerts())
        client.offer(self.table.snapshot(_now_ms()).decode())

    async def _flush_forever(self) -> None:
        while True:
            await self._hub.summaries_wanted.wait()
            await asyncio.sleep(self._flush_interval)
            message = self.table.flush(_now_ms())
            if message is not None:
                self._hub.offer_summaries(message.decode())
