"""Each process's side of forwarding: what it accepted, moved to the durable queue in the
background every `flush_interval`.

`offer` is all ingest ever calls: it appends a reference to the batch's samples, or, when the
outbox holds `max_samples` already (PostgreSQL away, say), drops and counts them. Encoding (in a
thread, off the event loop) and the INSERT happen later, so forwarding never slows a request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg

from backend.forward import queue
from backend.forward.encode import EncodedBatch, TargetEncoder
from backend.forward.stats import ForwardStats
from backend.model import IngestBatch, Sample, concat
from backend.storage.postgres import stop_if_cancelled

log = logging.getLogger(__name__)


class Outbox:
    def __init__(
        self,
        pool: asyncpg.Pool,
        encoders: Sequence[TargetEncoder],
        stats: Sequence[ForwardStats],
        *,
        max_samples: int,
    ) -> None:
        self._pool = pool
        self._encoders = list(encoders)
        self._stats = list(stats)
        self._max_samples = max_samples
        self._pending: list[Sequence[Sample]] = []
        self._unsaved: list[tuple[int, list[tuple[str, EncodedBatch]]]] = []
        self.held_samples = 0  # offered, not yet in PostgreSQL
        self._lock = asyncio.Lock()

    def offer(self, batch: IngestBatch) -> None:
        count = len(batch.samples)
        if not count:
            return
        if self.held_samples + count > self._max_samples:
            for stats in self._stats:
                stats.dropped_samples += count
            return
        self._pending.append(batch.samples)
        self.held_samples += count

    async def flush(self) -> None:
        """Encode what was offered and append it to the queue; kept for the next flush when
        PostgreSQL fails (and counted against `max_samples` until then)."""
        async with self._lock:
            if self._pending:
                pending, self._pending = self._pending, []
                raw = sum(len(part) for part in pending)
                rows = await asyncio.to_thread(self._encode, concat(pending))
                self._unsaved.append((raw, rows))
            while self._unsaved:
                raw, rows = self._unsaved[0]
                if rows:
                    await queue.append(self._pool, rows)
                self._unsaved.pop(0)
                self.held_samples -= raw

    def _encode(self, samples: Sequence[Sample]) -> list[tuple[str, EncodedBatch]]:
        return [
            (encoder.target.name, body)
            for encoder in self._encoders
            for body in encoder.encode(samples)
        ]

    async def flush_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception as exc:  # PostgreSQL away: keep the samples, try again
                stop_if_cancelled()
                log.warning("forwarding: could not queue samples (%s); retrying", exc)
