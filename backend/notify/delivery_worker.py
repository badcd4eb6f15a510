"""Sends due deliveries from the outbox, retrying with exponential backoff.

Runs in every backend process: claims are exclusive (see outbox.claim_due), so a notification is
sent by one process, and a receiver that is down gets it once it is back (until `give_up_after`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg
import httpx

from backend.notify import outbox
from backend.notify.senders import attempt

log = logging.getLogger(__name__)

_BATCH = 20


class OutageLog:
    """One warning when PostgreSQL goes away (no traceback: the cause is outside this code),
    a reminder at most every `every` seconds while it stays away, one line when it is back."""

    def __init__(self, every: float = 60.0) -> None:
        self._every = every
        self._since: float | None = None
        self._last_logged = 0.0
        self._failures = 0

    def failed(self, error: BaseException, now: float) -> None:
        self._failures += 1
        if self._since is None:
            self._since = self._last_logged = now
            log.warning("notification delivery paused: PostgreSQL unreachable (%r)", error)
        elif now - self._last_logged >= self._every:
            self._last_logged = now
            log.warning(
                "notification delivery still paused after %.0f s (%d attempts): %r",
                now - self._since,
                self._failures,
                error,
            )

    def succeeded(self, now: float) -> None:
        if self._since is not None:
            log.info("notification delivery resumed after %.0f s", now - self._since)
        self._since = None
        self._failures = 0


def retry_delay(attempts: int, initial: float, maximum: float) -> float:
    """`initial` after the 1st failed attempt, doubling after each next one, up to `maximum`."""
    return float(min(initial * 2 ** max(attempts - 1, 0), maximum))


class DeliveryWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        timeout: float,
        retry_initial: float,
        retry_max: float,
        give_up_after: float,
        poll_interval: float,
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._give_up_after = give_up_after
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog()

    def wake(self) -> None:
        """New deliveries were enqueued here: send without waiting for the next poll."""
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notification-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            while True:
                try:
                    while await self.send_due(client):
                        pass
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                    self._outage.failed(e, time.monotonic())
                else:
                    self._outage.succeeded(time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)
                self._wakeup.clear()

    async def send_due(self, client: httpx.AsyncClient) -> int:
        """One round: claim, send concurrently, record; the number of deliveries handled."""
        claim_seconds = self._timeout * 2 + 5
        due = await outbox.claim_due(self._pool, _BATCH, claim_seconds)
        await asyncio.gather(*(self._deliver(client, d) for d in due))
        return len(due)

    async def _deliver(self, client: httpx.AsyncClient, delivery: outbox.Delivery) -> None:
        outcome = await attempt(client, delivery)
        retry_in: float | None = None
        if not outcome.ok:
            retry_in = retry_delay(delivery.attempts, self._retry_initial, self._retry_max)
            if delivery.age_seconds + retry_in > self._give_up_after:
                retry_in = None
                log.warning("giving up on delivery %d: %s", delivery.id, outcome.error)
        await outbox.record(self._pool, delivery, outcome, retry_in)
