"""Sending one target's queue, as the remote_write 1.0 specification asks of a sender.

One request at a time, in queue order (so each series' samples arrive in order). 2xx: sent.
5xx, 429 or no answer: the same body again after an exponential backoff with jitter, or after
the target's `Retry-After` when it gives one; retried until the target takes it (the durable
queue is what bounds the wait). Any other 4xx: the body is dropped and counted as failed, never
retried (the target will not take it however often we ask).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum

import asyncpg
import httpx

from backend.forward import queue
from backend.forward.settings import ForwardTarget
from backend.forward.stats import ForwardStats

log = logging.getLogger(__name__)

USER_AGENT = "HostPulse-backend"
REMOTE_WRITE_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": USER_AGENT,
}


class Outcome(Enum):
    SENT = "sent"
    RETRY = "retry"
    REJECTED = "rejected"


def outcome_of(status: int | None) -> Outcome:
    """What a response status (None: no response at all) means for the body sent."""
    if status is None or status == 429 or status >= 500:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.SENT
    return Outcome.REJECTED  # other 4xx (and odd 1xx/3xx): retrying cannot help


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from `now` (unix seconds): delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def backoff_seconds(
    attempt: int, target: ForwardTarget, retry_after: float | None, jitter: float
) -> float:
    """The wait before retry number `attempt` (1, 2, ...): the target's Retry-After (capped at
    `max_retry_after`) when given, else `min_backoff` doubled per attempt up to `max_backoff`,
    scaled by `jitter` in [0.5, 1] so that many senders do not retry in step."""
    if retry_after is not None:
        return float(min(retry_after, target.max_retry_after))
    exponential = min(target.min_backoff * 2 ** (attempt - 1), target.max_backoff)
    return float(exponential * jitter)


class Sender:
    def __init__(
        self,
        target: ForwardTarget,
        pool: asyncpg.Pool,
        client: httpx.AsyncClient,
        stats: ForwardStats,
        *,
        idle_poll: float = 0.2,
        state_interval: float = 1.0,
    ) -> None:
        self.target = target
        self._pool = pool
        self._client = client
        self.stats = stats
        self._idle_poll = idle_poll
        self._state_interval = state_interval
        self._next_state_check = 0.0

    async def send_forever(self) -> None:
        """Run by the one process holding the target's lock (`backend.leadership`)."""
        self.stats.sending = True
        try:
            while True:
                await self._check_queue()
                bodies = await queue.head(self._pool, self.target.name, 16)
                if not bodies:
                    await asyncio.sleep(self._idle_poll)
                    continue
                for body in bodies:
                    outcome = await self.deliver(body.body, body.samples)
                    await queue.remove(self._pool, body.id)
                    if outcome is Outcome.SENT:
                        self.stats.sent_samples += body.samples
                    else:
                        self.stats.failed_samples += body.samples
        finally:
            self.stats.sending = False

    async def _check_queue(self) -> None:
        """Now and then: bound the queue (oldest out first) and refresh its gauges."""
        now = time.monotonic()
        if now < self._next_state_check:
            return
        self._next_state_check = now + self._state_interval
        name = self.target.name
        dropped = await queue.trim(self._pool, name, self.target.queue_max_samples)
        if dropped:
            self.stats.dropped_samples += dropped
            log.warning("forward %s: queue full, dropped the oldest %d samples", name, dropped)
        current = await queue.state(self._pool, name)
        self.stats.queue_samples = current.samples
        self.stats.lag_seconds = (
            0.0
            if current.oldest_enqueued is None
            else max(0.0, (datetime.now(UTC) - current.oldest_enqueued).total_seconds())
        )

    async def deliver(self, body: bytes, samples: int) -> Outcome:
        """POST `body` until the target takes it or refuses it for good."""
        attempt = 0
        while True:
            status, retry_after = await self._post(body)
            outcome = outcome_of(status)
            if outcome is not Outcome.RETRY:
                if outcome is Outcome.REJECTED:
                    log.warning(
                        "forward %s: HTTP %s, %d samples dropped (not retried)",
                        self.target.name,
                        status,
                        samples,
                    )
                return outcome
            attempt += 1
            self.stats.retried_samples += samples
            wait = backoff_seconds(attempt, self.target, retry_after, random.uniform(0.5, 1.0))
            if attempt == 1 or attempt % 20 == 0:
                log.warning(
                    "forward %s: %s; retry %d in %.2f s",
                    self.target.name,
                    f"HTTP {status}" if status is not None else "no answer",
                    attempt,
                    wait,
                )
            await asyncio.sleep(wait)

    async def _post(self, body: bytes) -> tuple[int | None, float | None]:
        try:
            response = await self._client.post(
                self.target.url, content=body, headers=self._headers(), timeout=self.target.timeout
            )
        except (httpx.HTTPError, OSError):
            return None, None
        await response.aclose()
        return response.status_code, retry_after_seconds(
            response.headers.get("Retry-After"), time.time()
        )

    def _headers(self) -> Mapping[str, str]:
        headers = {**self.target.headers, **REMOTE_WRITE_HEADERS}
        if self.target.bearer_token_file is not None:
            try:
                token = self.target.bearer_token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                log.warning("forward %s: bearer_token_file unreadable: %s", self.target.name, exc)
            else:
                headers["Authorization"] = f"Bearer {token}"
        return headers
