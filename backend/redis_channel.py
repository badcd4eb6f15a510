"""One Redis pub/sub subscription kept alive: the live fan-out, the alert feed and the alert
fan-out each hold one per process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from backend.redis_connection import connect_redis

log = logging.getLogger(__name__)

_BACKOFF_INITIAL = 0.1
_BACKOFF_MAX = 2.0


class ChannelListener:
    """Subscribed to `channel`, handing each message to `on_message`; after a Redis error it
    reconnects with backoff (reset once a subscription worked again).

    Optionally subscribed only on demand: it waits for `until_needed()` before subscribing, and
    unsubscribes once `still_needed()` has been false for `idle_unsubscribe` seconds. Each time a
    subscription starts, `on_subscribed()` runs first (to catch up on messages it missed)."""

    def __init__(
        self,
        redis_url: str,
        channel: str,
        on_message: Callable[[bytes], None],
        *,
        name: str,
        until_needed: Callable[[], Awaitable[object]] | None = None,
        still_needed: Callable[[], bool] | None = None,
        idle_unsubscribe: float = 10.0,
        on_error: Callable[[], None] | None = None,
        on_subscribed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._redis_url = redis_url
        self._channel = channel
        self._on_message = on_message
        self._name = name
        self._until_needed = until_needed
        self._still_needed = still_needed
        self._idle_unsubscribe = idle_unsubscribe
        self._on_error = on_error
        self._on_subscribed = on_subscribed
        self._task: asyncio.Task[None] | None = None
        self._was_subscribed = False
        self.subscribed = asyncio.Event()
        self.reconnects = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.subscribed.clear()

    async def _run(self) -> None:
        backoff = _BACKOFF_INITIAL
        while True:
            if self._until_needed is not None:
                await self._until_needed()
            self._was_subscribed = False
            try:
                await self._listen()
            except (RedisError, OSError, TimeoutError) as exc:
                self.reconnects += 1
                if self._on_error is not None:
                    self._on_error()
                # A connection that worked for a while starts the backoff over.
                backoff = _BACKOFF_INITIAL if self._was_subscribed else backoff
                log.warning(
                    "%s: subscription lost (%s); retrying in %.1fs", self._name, exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _listen(self) -> None:
        """Until an error, or until no longer needed for `idle_unsubscribe` seconds."""
        # A dedicated client: a subscribed connection cannot run other commands.
        client = connect_redis(self._redis_url, socket_connect_timeout=2, health_check_interval=10)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            self.subscribed.set()
            self._was_subscribed = True
            if self._on_subscribed is not None:
                # What was published before this subscription (or while it was lost) is missed:
                # the owner catches up from what is stored.
                await self._on_subscribed()
            if self.reconnects:
                log.info("%s: subscription restored", self._name)
            idle_since: float | None = None
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "message":
                    self._on_message(message["data"])
                if self._still_needed is None or self._still_needed():
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self._idle_unsubscribe:
                    return
        finally:
            self.subscribed.clear()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()
