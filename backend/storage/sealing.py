"""The sealing job: row-form raw samples become compressed chunks, one per series and 2-hour window.

Each pass (one process at a time: a PostgreSQL advisory lock, released the moment its holder's
connection dies, so a crashed process never blocks the others and sealing keeps going while Redis
is away):
1. moves the frontier to the start of the window `grace` ago. The writer reads the frontier
   under a shared advisory lock in each batch's transaction and sends older rows to samples_late,
   so once the move commits, every head partition below it is frozen;
2. seals each frozen head partition, then each samples_legacy day partition (the rows of the
   schema before 041), a range of series ids per transaction: read the rows, merge them with any
   chunk already there (`sample_merge.merge`), write the chunks and the progress row together. A
   crash rolls back one batch; the next pass resumes after the last committed one;
3. detaches (CONCURRENTLY: ingest and reads never wait) and drops each sealed partition a minute
   after its last chunk committed, and samples_legacy once it has no partition left;
4. moves late rows into their chunks: DELETE ... RETURNING and the chunk upsert in one
   transaction.
A minute's rows leave row form only while its rollups are up to date (no rollup_pending mark), so
the rollup job never has to look for samples that moved (see rollups.refresh_rollups).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from backend.storage.chunk_store import (
    EncodedChunks,
    copy_out,
    datetime_to_us,
    decode_chunks,
    encode_chunks,
    lock_chunks,
    write_chunks,
)
from backend.storage.postgres import Connection, stop_if_cancelled
from backend.storage.rollups import correct_minutes
from backend.storage.sample_merge import (
    WINDOW_US,
    Merged,
    Rows,
    chunk_starts,
    concat_rows,
    merge,
    repeated_minutes,
    rows_from_copy,
)
from backend.storage.sealed_reads import read_horizon
from conventions.settings_sources import Duration

log = logging.getLogger(__name__)
_T = TypeVar("_T")

PASS_LOCK_KEY = 0x48505365_616C6572  # "HPSealer": one sealing pass at a time
_WRITE_LOCK_KEY = 0x48505365_616C5752  # "HPSealWR": chunk writes never overlap, even past a pass
_FRONTIER_LOCK_KEY = 7021090357493645173  # hostpulse_head_frontier() takes it shared
_WINDOW = timedelta(microseconds=WINDOW_US)
_HEAD_PREFIX, _LEGACY_PREFIX = "samples_h", "samples_p"


class SealingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    interval: Duration = 60.0
    # How long after a window ends it is frozen: reports that late go to samples_late instead.
    grace: Duration = 600.0
    # Sealed row partitions are detached this long after their last chunk committed.
    detach_delay: Duration = 60.0
    batch_series: int = Field(default=64, ge=1, le=100_000)
    late_batch_rows: int = Field(default=200_000, ge=1)
    # The share of wall time a pass spends in sealing transactions: after each, it pauses for
    # the rest. A window of a busy fleet (432 M samples at 1,000 reports/s) is then sealed over
    # minutes beside ingest instead of taking a core (and PostgreSQL's) in one burst.
    busy_share: float = Field(default=0.25, gt=0, le=1)


@dataclass(slots=True)
class SealingStats:
    """What /metrics shows about sealing (counters since this process started)."""

    chunks_written: int = 0
    samples_sealed: int = 0
    duplicates: int = 0
    conflicts: int = 0
    cpu_seconds: float = 0.0  # decoding, merging, encoding (asyncpg's I/O on the loop aside)
    passes: int = 0
    lag_seconds: float | None = None
    head_bytes_per_sample: float | None = None  # of the last head partition sealed
    sealed_bytes: int | None = None
    sealed_samples: int | None = None


@dataclass(slots=True)
class SealReport:
    skipped: bool = False  # another process held the lock
    frontier: datetime | None = None
    sealed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # frozen, but with rollups still pending
    late_rows: int = 0


def frontier_for(now: datetime, grace_seconds: float) -> datetime:
    """The start of the window that held `now - grace`: everything before it is frozen."""
    moment_us = datetime_to_us(now - timedelta(seconds=grace_seconds))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        microseconds=moment_us - moment_us % WINDOW_US
    )


def partition_range(name: str) -> tuple[datetime, datetime] | None:
    """[start, end) of a head (`samples_hYYYYMMDDHH`) or legacy (`samples_pYYYYMMDD`) partition."""
    for prefix, pattern, width in (
        (_HEAD_PREFIX, "%Y%m%d%H", _WINDOW),
        (_LEGACY_PREFIX, "%Y%m%d", timedelta(days=1)),
    ):
        if name.startswith(prefix):
            try:
                start = datetime.strptime(name.removeprefix(prefix), pattern).replace(tzinfo=UTC)
            except ValueError:
                return None
            return start, start + width
    return None


class Sealer:
    def __init__(
        self, pool: asyncpg.Pool, settings: SealingSettings, clock: Callable[[], datetime] | None
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self.stats = SealingStats()

    async def run_pass(self) -> SealReport:
        """One pass (see the module docstring); skipped if another process is running one."""
        report = SealReport()
        async with self._pool.acquire() as lock_conn:
            if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", PASS_LOCK_KEY):
                report.skipped = True
                return report
            try:
                await self._pass(report)
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", PASS_LOCK_KEY)
                self.stats.passes += 1
        return report

    async def seal_forever(self) -> None:
        """A pass now and every `interval` seconds, until cancelled."""
        while True:
            try:
                report = await self.run_pass()
                if report.sealed or report.dropped or report.late_rows:
                    log.info(
                        "sealing: sealed %s, dropped %s, %d late rows merged",
                        report.sealed, report.dropped, report.late_rows,
                    )  # fmt: skip
            except Exception:  # keep the job alive; the next pass resumes where this one stopped
                stop_if_cancelled()
                log.exception("sealing pass failed")
            await asyncio.sleep(self._settings.interval)

    async def _pass(self, report: SealReport) -> None:
        now = self._clock()
        report.frontier = await self._advance_frontier(frontier_for(now, self._settings.grace))
        partitions = await self._row_partitions()
        oldest_unsealed: datetime | None = None
        for parent, name, start, end, sealed_at in partitions:
            if sealed_at is not None:
                if now - sealed_at >= timedelta(seconds=self._settings.detach_delay):
                    await self._drop(parent, name)
                    report.dropped.append(name)
                continue
            if parent == "samples" and end > report.frontier:
                continue  # still receiving rows
            oldest_unsealed = start if oldest_unsealed is None else min(oldest_unsealed, start)
            if await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM rollup_pending WHERE minute >= $1 AND minute < $2)",
                start,
                end,
            ):
                report.waiting.append(name)
                continue
            await self._seal_partition(name)
            report.sealed.append(name)
        if not any(parent == "samples_legacy" for parent, *_ in partitions):
            await self._drop_empty_legacy()
        report.late_rows = await self._move_late_rows()
        lag_from = oldest_unsealed if oldest_unsealed is not None else report.frontier
        self.stats.lag_seconds = max(0.0, (now - lag_from).total_seconds())
        await self._read_sealed_size()

    async def _advance_frontier(self, target: datetime) -> datetime:
        async with self._pool.acquire() as conn, conn.transaction():
            current: datetime = await conn.fetchval("SELECT frontier FROM sealing_state")
            if current >= target:
                return current
            # Waits for the writers' open transactions (each a few ms) and holds new ones back
            # meanwhile; the timeout keeps a stuck writer from stalling ingest behind this.
            await conn.execute("SET LOCAL lock_timeout = '5s'")
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _FRONTIER_LOCK_KEY)
            await conn.execute("UPDATE sealing_state SET frontier = $1", target)
            return target

    async def _row_partitions(self) -> list[tuple[str, str, datetime, datetime, datetime | None]]:
        """(parent, name, start, end, sealed_at) of the head and legacy partitions, oldest first."""
        rows = await self._pool.fetch(
            "SELECT p.relname AS parent, c.relname AS name, s.sealed_at "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "LEFT JOIN sealing_progress s ON s.relname = c.relname "
            "WHERE p.relname IN ('samples', 'samples_legacy') AND p.relnamespace = c.relnamespace "
            "AND c.relnamespace = current_schema()::regnamespace"
        )
        found = []
        for row in rows:
            bounds = partition_range(row["name"])
            if bounds is not None:
                found.append((row["parent"], row["name"], *bounds, row["sealed_at"]))
        return sorted(found, key=lambda item: (item[2], item[1]))

    async def _seal_partition(self, name: str) -> None:
        """Seal every series of one frozen row partition, resuming where a crash left off."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO sealing_progress (relname) VALUES ($1) ON CONFLICT DO NOTHING", name
            )
            next_id: int = await conn.fetchval(
                "SELECT next_series_id FROM sealing_progress WHERE relname = $1", name
            )
            while True:
                # Identifiers come from pg_inherits, never from users; quoted anyway.
                first = await conn.fetchval(
                    f'SELECT min(series_id) FROM "{name}" WHERE series_id >= $1',  # noqa: S608
                    next_id,
                )
                if first is None:
                    break
                next_id = first + self._settings.batch_series
                began = time.monotonic()
                await self._seal_batch(conn, name, first, next_id)
                await self._pause_after(began)
            size = await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name)
            rows_sealed = await conn.fetchval(
                "UPDATE sealing_progress SET sealed_at = now(), bytes = $2 WHERE relname = $1 "
                "RETURNING rows_sealed",
                name,
                size,
            )
        if name.startswith(_HEAD_PREFIX) and rows_sealed:
            self.stats.head_bytes_per_sample = size / rows_sealed

    async def _seal_batch(self, conn: Connection, name: str, first: int, end: int) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK_KEY)
            data = await copy_out(
                conn,
                f'SELECT series_id, time, value FROM "{name}" '  # noqa: S608
                "WHERE series_id >= $1 AND series_id < $2",
                first,
                end,
            )
            rows = await self._merge_into_chunks(conn, data)
            if name.startswith(_LEGACY_PREFIX):
                # The schema before 041 rolled each copy of a re-sent sample up: correct the
                # minutes it stored twice, now that they hold each sample once.
                repeated = await self._in_thread(repeated_minutes, rows)
                await correct_minutes(conn, await read_horizon(conn), repeated)
            await conn.execute(
                "UPDATE sealing_progress SET next_series_id = $2, rows_sealed = rows_sealed + $3 "
                "WHERE relname = $1",
                name,
                end,
                len(rows),
            )

    async def _merge_into_chunks(self, conn: Connection, data: bytes) -> Rows:
        """Merge binary COPY rows into their chunks (with what those hold); returns the rows.

        Decoding, merging and encoding run in a worker thread: a batch is up to a few hundred
        ms of CPU, which on the event loop would hold up every ingest request meanwhile.
        """
        rows, incoming, keys = await self._in_thread(_incoming, data)
        if not keys:
            return rows
        existing = await lock_chunks(conn, keys)
        final, encoded = await self._in_thread(_combined, incoming, existing)
        self.stats.duplicates += incoming.duplicates + final.duplicates
        self.stats.conflicts += incoming.conflicts + final.conflicts
        self.stats.chunks_written += await write_chunks(conn, encoded)
        self.stats.samples_sealed += len(incoming.rows)
        return rows

    async def _in_thread(self, work: Callable[..., _T], *args: object) -> _T:
        """`work(*args)` in a worker thread, its CPU time added to the stats."""

        def timed() -> _T:
            began = time.thread_time()
            try:
                return work(*args)
            finally:
                self.stats.cpu_seconds += time.thread_time() - began

        return await asyncio.to_thread(timed)

    async def _pause_after(self, began: float) -> None:
        """Keeps sealing to `busy_share` of the time (see SealingSettings)."""
        share = self._settings.busy_share
        if share < 1:
            await asyncio.sleep((time.monotonic() - began) * (1 / share - 1))

    async def _drop(self, parent: str, name: str) -> None:
        pending = await self._pool.fetchval(
            "SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE c.relname = $1",
            name,
        )
        how = "FINALIZE" if pending else "CONCURRENTLY"
        # Not in a transaction (CONCURRENTLY forbids it): waits for every transaction that may
        # still see the partition, holding no lock that blocks ingest or reads meanwhile.
        await self._pool.execute(f'ALTER TABLE "{parent}" DETACH PARTITION "{name}" {how}')
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            await conn.execute("DELETE FROM sealing_progress WHERE relname = $1", name)

    async def _drop_empty_legacy(self) -> None:
        if await self._pool.fetchval("SELECT to_regclass('samples_legacy') IS NOT NULL"):
            await self._pool.execute("DROP TABLE samples_legacy")
            log.info(
                "every row of the schema before sealed chunks is sealed: samples_legacy dropped"
            )

    async def _move_late_rows(self) -> int:
        moved = 0
        async with self._pool.acquire() as conn:
            while True:
                began = time.monotonic()
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK_KEY)
                    data = await copy_out(
                        conn,
                        "DELETE FROM samples_late WHERE ctid = ANY(ARRAY("
                        "SELECT ctid FROM samples_late l WHERE NOT EXISTS (SELECT 1 FROM "
                        "rollup_pending p WHERE p.minute = date_bin('1 minute', l.time, 'epoch')) "
                        "LIMIT $1)) RETURNING series_id, time, value",
                        self._settings.late_batch_rows,
                    )
                    rows = await self._merge_into_chunks(conn, data)
                moved += len(rows)
                if len(rows) < self._settings.late_batch_rows:
                    return moved
                await self._pause_after(began)

    async def _read_sealed_size(self) -> None:
        size = await self._pool.fetchval(
            "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i "
            "WHERE i.inhparent = 'sample_chunks'::regclass"
        )
        samples = await self._pool.fetchval(
            "SELECT coalesce(sum(samples), 0) FROM sealed_day_stats"
        )
        self.stats.sealed_bytes, self.stats.sealed_samples = int(size), int(samples)


def _incoming(data: bytes) -> tuple[Rows, Merged, list[tuple[int, int]]]:
    """(the COPY rows, merged, the (series, window µs) chunks they go to)."""
    rows = rows_from_copy(data)
    incoming = merge(rows)
    starts, windows = chunk_starts(incoming.rows)
    first_ids = incoming.rows.series_ids[starts]
    keys = list(zip(first_ids.tolist(), windows[starts].tolist(), strict=True))
    return rows, incoming, keys


def _combined(incoming: Merged, existing: list[tuple[int, bytes]]) -> tuple[Merged, EncodedChunks]:
    """Incoming rows merged with the chunks already there, and encoded; the Merged counts only
    what the chunks held already."""
    if existing:  # samples moved in earlier (late rows, or the other source of a window)
        final = merge(concat_rows([incoming.rows, decode_chunks(existing)]))
    else:
        final = Merged(incoming.rows, 0, 0)
    return final, encode_chunks(final.rows)
