"""SampleWriter: a bounded in-memory queue drained by background "lanes" that COPY batches.

Each lane writes one batch at a time on a connection of its own, under its own writer id; with
two lanes a batch that PostgreSQL is slow to take (a sealing pass reading the head beside it, a
checkpoint) no longer holds up the requests queued behind it: the other lane writes them
meanwhile. One lane is the default: on 2 cores two cost ~12 % of ingest capacity (smaller
batches) without a measurable p99 gain (bench/README.md).

A failed write (connection lost, PostgreSQL restarting) is retried with backoff, never dropped;
meanwhile the queue fills and `enqueue` raises Overloaded, which ingest answers with 503.
`enqueue` returns a future that is done once the batch is committed (or failed with the reason
it never will be), so ingest can answer only for what PostgreSQL holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import asyncpg
import orjson

from backend.model import IngestBatch, InvalidSample, Overloaded
from backend.storage.postgres import Connection, stop_if_cancelled
from backend.storage.rollups import ms_to_datetime, refresh_all_rollups
from backend.storage.series_ids import SeriesIds
from backend.storage.validated_keys import ValidatedKeys
from backend.storage.write_batch import PendingItem, build_records, commit_batch, encode_snapshot

log = logging.getLogger(__name__)
_WINDOW_MS = 2 * 3_600_000  # a head partition per 2-hour window (041_sealed_chunks.sql)
# After a batch met stored samples (a sender re-sending), this many batches go straight to the
# set-based path: a plain COPY failing on a duplicate wastes its work and leaves dead rows.
_DEDUPLICATE_FOR_BATCHES = 50
# Errors that retrying cannot fix: the batch is split and the offending ingest batch dropped.
_POISON_ERRORS = (
    asyncpg.DataError,
    asyncpg.ProgramLimitExceededError,
    UnicodeError,
    orjson.JSONEncodeError,
    struct.error,  # a time or id outside int64 in the binary COPY rows
)


@dataclass(slots=True)
class _Lane:
    """One writing task: its batches are numbered under its own writer id, so a retry after an
    unknown outcome checks this lane's progress only (lanes commit in any order)."""

    writer_id: uuid.UUID = field(default_factory=uuid.uuid4)
    batch_seq: int = 0
    inflight: list[PendingItem] = field(default_factory=list)
    inflight_size: int = 0


class SampleWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_queue_samples: int = 200_000,
        batch_samples: int = 20_000,
        flush_interval: float = 0.2,
        lanes: int = 1,
        retry_initial_seconds: float = 0.1,
        retry_max_seconds: float = 5.0,
        rollup_interval: float = 5.0,
    ) -> None:
        if max_queue_samples < 1 or batch_samples < 1:
            raise ValueError("max_queue_samples and batch_samples must be at least 1")
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes!r}")
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be > 0 seconds, got {flush_interval!r}")
        self._pool = pool
        self._max_queue = max_queue_samples
        self._batch = batch_samples
        self._flush_interval = flush_interval
        self._retry_initial = retry_initial_seconds
        self._retry_max = retry_max_seconds
        self._queue: deque[PendingItem] = deque()
        # Each queued item's commit future, by id(item): done when its transaction commits.
        self._commits: dict[int, asyncio.Future[None]] = {}
        self._queued = 0  # rows + snapshots waiting in _queue
        self._lanes = [_Lane() for _ in range(lanes)]
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rollup_task: asyncio.Task[None] | None = None
        self._rollup_interval = rollup_interval
        self._validated = ValidatedKeys()
        self._stopping = False
        self._series = SeriesIds()
        self._known_windows: set[int] = set()
        self._frontier_ms = 0  # the head's frontier as of the last commit (it only moves ahead)
        self._deduplicate_left = 0  # batches still to write by the set-based path
        self._retry_delay = 0.0  # > 0 while the current batch is being retried
        self._throughput = 50_000.0  # samples/s, smoothed; only used to suggest Retry-After
        self.written_samples = 0
        self.failed_attempts = 0
        self.dropped_samples = 0
        self.duplicate_samples = 0  # stored already with the same value: not written again
        self.conflicting_samples = 0  # stored already with another value: the larger one kept

    @property
    def queue_depth(self) -> int:
        return self._queued + sum(lane.inflight_size for lane in self._lanes)

    @property
    def lag_seconds(self) -> float:
        """How long the oldest sample not yet committed has waited (0 when none)."""
        waiting = [lane.inflight[0] for lane in self._lanes if lane.inflight]
        if self._queue:
            waiting.append(self._queue[0])
        if not waiting:
            return 0.0
        return max(0.0, time.monotonic() - min(item.enqueued_at for item in waiting))

    def enqueue(self, batch: IngestBatch) -> asyncio.Future[None]:
        """Queue a batch for PostgreSQL; raises Overloaded when full, InvalidSample if bad.

        The future is done when the batch is committed; it fails with InvalidSample if
        PostgreSQL refuses it as data, or Overloaded if the writer stops before writing it."""
        if self._stopping:
            raise RuntimeError("the sample writer is stopped")
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        committed.add_done_callback(_observe)
        size = len(batch.samples) + len(batch.process_snapshots)
        if size == 0:
            committed.set_result(None)
            return committed
        depth = self.queue_depth
        # A batch larger than the whole queue is still accepted into an empty queue.
        if depth > 0 and depth + size > self._max_queue:
            raise Overloaded(self._suggest_retry_after(depth))
        keys, times, values = self._validated.rows(batch.samples)
        snapshots = [encode_snapshot(snapshot) for snapshot in batch.process_snapshots]
        was_empty = not self._queue
        item = PendingItem(keys, times, values, snapshots, time.monotonic())
        self._queue.append(item)
        self._commits[id(item)] = committed
        self._queued += size
        if was_empty or self._queued >= self._batch:
            self._wake.set()
        return committed

    def _settle(self, items: list[PendingItem], error: BaseException | None = None) -> None:
        for item in items:
            committed = self._commits.pop(id(item), None)
            if committed is None or committed.done():
                continue
            if error is None:
                committed.set_result(None)
            else:
                committed.set_exception(error)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run_lanes(), name="hostpulse-sample-writer")
            self._rollup_task = asyncio.create_task(self._roll_up(), name="hostpulse-rollups")

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109 - the shared contract
        """Write everything queued (waiting at most `timeout` seconds), then end the task."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        rollup_task, self._rollup_task = self._rollup_task, None
        if rollup_task is not None:
            rollup_task.cancel()
            await asyncio.gather(rollup_task, return_exceptions=True)
        if task is None:
            return
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            unwritten = [item for lane in self._lanes for item in lane.inflight]
            unwritten += self._queue
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._settle(unwritten, Overloaded(1))
            log.error(
                "sample writer stopped with samples unwritten",
                extra={"fields": {"unwritten": self.queue_depth, "timeout": timeout}},
            )
            return
        # Bring rollups up to date with everything written, including the current minute.
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                await self._refresh_rollups(closed_before_ms=None)
        except Exception as error:  # the marks stay; the next process's job picks them up
            log.warning("rollup refresh at stop failed", extra={"fields": {"error": repr(error)}})

    async def _roll_up(self) -> None:
        """Every `rollup_interval`, recompute the rollups of minutes that have ended."""
        while True:
            await asyncio.sleep(self._rollup_interval)
            # A few seconds' grace lets reports stamped just before a minute ended arrive.
            closed_before = int(time.time() * 1000) - 5_000
            try:
                await self._refresh_rollups(closed_before_ms=closed_before)
            except Exception as error:  # PostgreSQL away: the marks wait for the next round
                stop_if_cancelled()
                log.warning("rollup refresh failed", extra={"fields": {"error": repr(error)}})

    async def _refresh_rollups(self, *, closed_before_ms: int | None) -> None:
        async with self._pool.acquire() as conn:
            await refresh_all_rollups(conn, closed_before_ms=closed_before_ms)

    def _suggest_retry_after(self, depth: int) -> int:
        if self._retry_delay > 0:
            return max(1, math.ceil(self._retry_delay))
        return min(60, max(1, math.ceil(depth / self._throughput)))

    async def _run_lanes(self) -> None:
        await asyncio.gather(*(self._run(lane) for lane in self._lanes))

    async def _run(self, lane: _Lane) -> None:
        """One lane: take what is due (a full batch, or the oldest waited `flush_interval`),
        write it, repeat. Every lane waits on the same wake-up; the first free one takes."""
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._queue[0].enqueued_at + self._flush_interval - time.monotonic()
            if self._queued < self._batch and wait > 0 and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            lane.inflight = self._take()
            lane.inflight_size = sum(item.size for item in lane.inflight)
            try:
                await self._write_with_retry(lane, lane.inflight)
                self._settle(lane.inflight)
            finally:
                lane.inflight = []
                lane.inflight_size = 0

    def _take(self) -> list[PendingItem]:
        items: list[PendingItem] = []
        taken = 0
        while self._queue and taken < self._batch:
            item = self._queue.popleft()
            items.append(item)
            taken += item.size
        self._queued -= taken
        return items

    async def _write_with_retry(self, lane: _Lane, items: list[PendingItem]) -> None:
        lane.batch_seq += 1
        seq = lane.batch_seq
        delay = self._retry_initial
        retrying = False
        deduplicate = self._deduplicate_left > 0
        while True:
            started = time.monotonic()
            try:
                await self._write_once(
                    items, lane.writer_id, seq, check_progress=retrying, deduplicate=deduplicate
                )
                break
            except _POISON_ERRORS as error:
                await self._isolate_poison(lane, items, error)
                return
            except Exception as error:  # anything else is worth retrying: nothing is dropped
                stop_if_cancelled()
                if isinstance(error, asyncpg.UniqueViolationError) and not deduplicate:
                    # Some (series, time) is stored already (a sender's retry): write each
                    # one once, right away. A violation while deduplicating (a concurrent
                    # writer's row) is retried like any other error.
                    deduplicate = True
                    self._deduplicate_left = _DEDUPLICATE_FOR_BATCHES
                    continue
                self.failed_attempts += 1
                self._known_windows.clear()  # a partition may have been dropped meanwhile
                retrying = True
                self._retry_delay = delay
                log.warning(
                    "sample write failed; retrying",
                    extra={"fields": {"error": repr(error), "retry_in": delay, "batch": seq}},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
        self._retry_delay = 0.0
        written = sum(len(item.keys) for item in items)
        self.written_samples += written
        elapsed = max(time.monotonic() - started, 1e-3)
        self._throughput = 0.8 * self._throughput + 0.2 * max(written / elapsed, 1_000.0)

    async def _isolate_poison(
        self, lane: _Lane, items: list[PendingItem], error: BaseException
    ) -> None:
        if len(items) > 1:
            for item in items:
                await self._write_with_retry(lane, [item])
            return
        dropped = items[0].size
        self.dropped_samples += dropped
        self._settle(items, InvalidSample(f"PostgreSQL refused the batch as data: {error!r}"))
        log.error(
            "dropping an ingest batch PostgreSQL rejects as data",
            extra={"fields": {"error": repr(error), "samples": dropped}},
        )

    async def _write_once(
        self,
        items: list[PendingItem],
        writer_id: uuid.UUID,
        seq: int,
        *,
        check_progress: bool,
        deduplicate: bool,
    ) -> None:
        rows = build_records(items, self._series.ids.get)
        async with self._pool.acquire() as conn:
            if rows.unresolved:
                await self._series.resolve(conn, (key for _, key in rows.unresolved))
                rows.fill_series_ids(self._series.ids)
            # Rows older than the frontier go to samples_late, which has no partitions.
            windows = {t // _WINDOW_MS for t in rows.times if t >= self._frontier_ms}
            await self._ensure_partitions(conn, windows)
            outcome = await commit_batch(
                conn,
                rows,
                [snap for item in items for snap in item.snapshots],
                writer_id=writer_id,
                seq=seq,
                check_progress=check_progress,
                deduplicate=deduplicate,
            )
        self.duplicate_samples += outcome.duplicates
        self.conflicting_samples += outcome.conflicts
        if outcome.duplicates or outcome.conflicts:
            self._deduplicate_left = _DEDUPLICATE_FOR_BATCHES
        elif deduplicate:
            self._deduplicate_left -= 1
        if outcome.frontier_ms is not None:
            self._frontier_ms = outcome.frontier_ms

    async def _ensure_partitions(self, conn: Connection, windows: set[int]) -> None:
        for window in sorted(windows - self._known_windows):
            await conn.execute(
                "SELECT hostpulse_ensure_head_partition($1)", ms_to_datetime(window * _WINDOW_MS)
            )
            self._known_windows.add(window)


def _observe(committed: asyncio.Future[None]) -> None:
    """Mark a failure as seen: a request that stopped waiting must not leave an "exception was
    never retrieved" warning behind."""
    if not committed.cancelled():
        committed.exception()
