"""Unsealing, for a downgrade: history back into the row layout of the releases before 041.

With every backend stopped, each sample — from chunks, the head, late rows and legacy rows,
merged by the usual rule so each is there once — is copied into a day table `unsealed_pYYYYMMDD`,
a day and a batch of series per transaction, with the progress in the same transaction: a crash
or Ctrl-C loses nothing and a second run resumes. Then one transaction puts the old schema back:
041's tables and functions go, 002_samples.sql runs again, the day tables become its partitions
and migration 041 is forgotten. Rollups and everything else stay as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from backend.storage.migrations import MIGRATIONS_DIR
from backend.storage.postgres import Connection
from backend.storage.sample_merge import rows_to_copy
from backend.storage.sealed_reads import read_horizon, read_merged
from backend.storage.sealing import PASS_LOCK_KEY

_SEALED_VERSION = 41  # 041_sealed_chunks.sql
_DAY = timedelta(days=1)
_EMPTY_RAW_VIEW = (
    "CREATE OR REPLACE VIEW grafana.raw_samples AS SELECT NULL::bigint AS series_id, "
    "NULL::timestamptz AS time, NULL::double precision AS value WHERE false"
)
_SOURCES = """
SELECT min(lo), max(hi) FROM (
    SELECT min(window_start) AS lo, max(window_start) + interval '2 hours' AS hi
    FROM sample_chunks
    UNION ALL SELECT min(time), max(time) FROM samples
    UNION ALL SELECT min(time), max(time) FROM samples_late
) AS bounds
"""


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


class UnsealError(RuntimeError):
    """Unsealing cannot run now; the message says why and what to do."""


@dataclass(slots=True)
class UnsealReport:
    days: int = 0
    samples: int = 0


async def unseal(
    pool: asyncpg.Pool, *, batch_series: int = 1_000, say: Callable[[str], None] = print
) -> UnsealReport:
    """Every sample into the row layout before 041, then that schema back (module docstring)."""
    report = UnsealReport()
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT to_regclass('sealing_state') IS NULL"):
            raise UnsealError("this database has no sealed history (migration 041 is not applied)")
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", PASS_LOCK_KEY):
            raise UnsealError("a backend is sealing this database: stop every backend process")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS unseal_progress ("
                "day date PRIMARY KEY, next_series_id bigint NOT NULL DEFAULT 0)"
            )
            for day in await _days(conn):
                samples = await _unseal_day(conn, day, batch_series)
                report.days += 1
                report.samples += samples
                say(f"{day}: {samples:,} samples in unsealed_p{day:%Y%m%d}")
            await _restore_row_schema(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", PASS_LOCK_KEY)
    return report


async def _days(conn: Connection) -> list[date]:
    [(lo, hi)] = await conn.fetch(_SOURCES)
    if await conn.fetchval("SELECT to_regclass('samples_legacy') IS NOT NULL"):
        [(legacy_lo, legacy_hi)] = await conn.fetch(
            "SELECT min(time), max(time) FROM samples_legacy"
        )
        lo = min(filter(None, (lo, legacy_lo)), default=None)
        hi = max(filter(None, (hi, legacy_hi)), default=None)
    if lo is None or hi is None:
        return []
    first, last = lo.astimezone(UTC).date(), hi.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def _unseal_day(conn: Connection, day: date, batch_series: int) -> int:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    table = f"unsealed_p{day:%Y%m%d}"
    # The CHECK lets ATTACH PARTITION skip scanning the table for rows outside the day.
    await conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{table}" (series_id bigint NOT NULL, '
        "time timestamptz NOT NULL, value double precision NOT NULL, "
        f"CHECK (time >= '{start.isoformat()}' AND time < '{(start + _DAY).isoformat()}'))"
    )
    await conn.execute(
        "INSERT INTO unseal_progress (day) VALUES ($1) ON CONFLICT (day) DO NOTHING", day
    )
    start_us = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    copied = 0
    while True:
        async with conn.transaction():
            next_id = await conn.fetchval(
                "SELECT next_series_id FROM unseal_progress WHERE day = $1 FOR UPDATE", day
            )
            ids = [
                row["id"]
                for row in await conn.fetch(
                    "SELECT id FROM series WHERE id >= $1 ORDER BY id LIMIT $2",
                    next_id,
                    batch_series,
                )
            ]
            if not ids:
                return copied
            horizon = await read_horizon(conn)
            rows = (await read_merged(conn, horizon, ids, start_us, start_us + 86_400_000_000)).rows
            if len(rows):
                await conn.copy_to_table(
                    table, source=_one_chunk(rows_to_copy(rows)), format="binary",
                    columns=("series_id", "time", "value"),
                )  # fmt: skip
            await conn.execute(
                "UPDATE unseal_progress SET next_series_id = $2 WHERE day = $1", day, ids[-1] + 1
            )
            copied += len(rows)


async def _restore_row_schema(conn: Connection) -> None:
    days = [row["day"] for row in await conn.fetch("SELECT day FROM unseal_progress ORDER BY day")]
    grafana_view = await conn.fetchval("SELECT to_regclass('grafana.raw_samples') IS NOT NULL")
    async with conn.transaction():
        if grafana_view:  # replaced, not dropped: a view keeps the Grafana reader's grant
            await conn.execute(_EMPTY_RAW_VIEW)
        await conn.execute(
            "DROP TABLE IF EXISTS samples, samples_late, sample_chunks, samples_legacy, "
            "sealing_state, sealed_day_stats, sealing_progress"
        )
        await conn.execute(
            "DROP FUNCTION hostpulse_head_frontier(), hostpulse_window_start(timestamptz), "
            "hostpulse_ensure_head_partition(timestamptz), hostpulse_ensure_chunk_partition(date),"
            " hostpulse_ensure_partition(text, text, timestamptz, timestamptz),"
            " hostpulse_lock_legacy(), hostpulse_value_order(double precision)"
        )
        await conn.execute((MIGRATIONS_DIR / "002_samples.sql").read_text())
        for day in days:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            name = f"samples_p{day:%Y%m%d}"
            await conn.execute(f'ALTER TABLE "unsealed_p{day:%Y%m%d}" RENAME TO "{name}"')
            await conn.execute(
                f'ALTER TABLE samples ATTACH PARTITION "{name}" FOR VALUES FROM '
                f"('{start.isoformat()}') TO ('{(start + _DAY).isoformat()}')"
            )
        if grafana_view:
            await conn.execute(
                "CREATE OR REPLACE VIEW grafana.raw_samples AS "
                "SELECT series_id, time, value FROM samples"
            )
        await conn.execute("DROP TABLE unseal_progress")
        await conn.execute("DELETE FROM schema_migrations WHERE version = $1", _SEALED_VERSION)
