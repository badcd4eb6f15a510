"""What the evaluator sees: accepted samples from the Redis live channel, as engine observations,
and a small reconnecting channel listener (also used for the alert fan-out)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from backend.alerts.engine import Observation

log = logging.getLogger(__name__)

_BACKOFF_MAX = 2.0


def observations_from_frame(frame: bytes, wanted_metrics: Collection[str]) -> list[Observation]:
    """The frame's samples of metrics some rule watches, plus its newest sample (which tells the
    stale rule the host is alive). Anything that is not a samples frame gives nothing."""
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(data, dict) or data.get("type") != "samples":
        return []
    host = data.get("host")
    samples = data.get("samples")
    if not isinstance(host, str) or not isinstance(samples, list):
        return []
    found: list[Observation] = []
    newest: Observation | None = None
    for sample in samples:
        try:
            obs = Observation(
                host=host,
                metric=sample["name"],
                labels=sample["labels"],
                time_ms=int(sample["time_ms"]),
                value=float(sample["value"]),
            )
        except (KeyError, TypeError, ValueError):
            continue
        if obs.metric in wanted_metrics:
            found.append(obs)
        elif newest is None or obs.time_ms > newest.time_ms:
            newest = obs
    if newest is not None and all(o.time_ms < newest.time_ms for o in found):
        found.append(newest)
    return found


class ChannelListener:
    """Stays subscribed to one channel (reconnecting after errors) and hands each message on."""

    def __init__(
        self,
        redis_url: str,
        channel: str,
        on_message: Callable[[bytes], None],
        *,
        name: str,
    ) -> None:
        self._redis_url = redis_url
        self._channel = channel
        self._on_message = on_message
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.subscribed.clear()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._listen()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning(
                    "%s: subscription lost (%s); retrying in %.1fs", self._name, exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _listen(self) -> None:
        # A dedicated connection: a subscribed one cannot run other commands.
        client = aioredis.Redis.from_url(
            self._redis_url, socket_connect_timeout=2, health_check_interval=10
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            self.subscribed.set()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "message":
                    self._on_message(message["data"])
        finally:
            self.subscribed.clear()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()
