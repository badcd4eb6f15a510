"""1-minute and 1-hour rollups, recomputed from raw samples for the minutes the writer marked.

The writer only marks touched minutes (one tiny upsert per batch); this job aggregates each
closed minute once, which costs far less than upserting rollup rows for every sample written.
Recomputing whole buckets makes the job idempotent: a retry or an overlap never double-counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np

from backend.storage.chunk_store import fetch_chunks
from backend.storage.postgres import Connection
from backend.storage.sample_merge import Buckets, bucket_aggregates, concat_rows, merge
from backend.storage.sealed_reads import Horizon, history_snapshot, read_merged, row_form

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ROLLUP_LOCK_KEY = 0x486F7374_526F6C6C  # "HostRoll": one rollup job at a time across processes

_MARK_PENDING = """
INSERT INTO rollup_pending (minute) SELECT unnest($1::timestamptz[]) ORDER BY 1
ON CONFLICT (minute) DO UPDATE SET version = rollup_pending.version + 1
"""
# A minute's rollups, and when each of its rows is new (the minute never rolled up before) the
# minute folded into its hour's (min of mins, max of maxes, sums added): O(minute) instead of the
# hour recomputed from all of its minutes each time one closes, which at 2,000 hosts (124,000
# series) read up to 7 M rollup_1m rows a minute by the hour's end. A minute rolled up before (a
# late sample), or one a day old or more (rollup_1m retention may have removed some of the
# hour's minutes), answers false: its hour is recomputed from its minutes instead.
# $1: the minute, $2: its hour (both UTC).
_RECOMPUTE_MINUTE_AND_FOLD = """
WITH minute AS (
    INSERT INTO rollup_1m AS r (series_id, bucket, min, max, sum, count)
    SELECT series_id, $1::timestamptz, min(value), max(value), sum(value), count(*)
    FROM samples
    WHERE time >= $1::timestamptz AND time < $1::timestamptz + interval '1 minute'
    GROUP BY series_id
    ON CONFLICT (series_id, bucket) DO UPDATE SET
        min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum, count = EXCLUDED.count
    RETURNING series_id, min, max, sum, count, xmax = 0 AS first_time
), fold AS (
    SELECT coalesce(bool_and(first_time), true)
           AND $1::timestamptz >= now() - interval '1 day' AS ok
    FROM minute
), folded AS (
    INSERT INTO rollup_1h AS h (series_id, bucket, min, max, sum, count)
    SELECT m.series_id, $2::timestamptz, m.min, m.max, m.sum, m.count FROM minute m, fold
    WHERE fold.ok
    ON CONFLICT (series_id, bucket) DO UPDATE SET
        min = least(h.min, EXCLUDED.min), max = greatest(h.max, EXCLUDED.max),
        sum = h.sum + EXCLUDED.sum, count = h.count + EXCLUDED.count
)
SELECT ok FROM fold
"""
_RECOMPUTE_HOUR = """
INSERT INTO rollup_1h AS r (series_id, bucket, min, max, sum, count)
SELECT series_id, $1::timestamptz, min(min), max(max), sum(sum), sum(count)
FROM rollup_1m
WHERE bucket >= $1::timestamptz AND bucket < $1::timestamptz + interval '1 hour'
GROUP BY series_id
ON CONFLICT (series_id, bucket) DO UPDATE SET
    min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum, count = EXCLUDED.count
"""


def ms_to_datetime(time_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=time_ms)


def datetime_to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def minutes_of(times_ms: Iterable[int]) -> list[datetime]:
    """The distinct 1-minute buckets the times fall in, in order."""
    return [ms_to_datetime(m) for m in sorted({t - t % MINUTE_MS for t in times_ms})]


def hours_of(minutes: Iterable[datetime]) -> list[datetime]:
    return sorted({m.replace(minute=0, second=0, microsecond=0) for m in minutes})


async def mark_pending(conn: Connection, minutes: list[datetime]) -> None:
    """Inside the writer's transaction: these minutes' rollups need recomputing."""
    if minutes:
        await conn.execute(_MARK_PENDING, minutes)


# The hour's minutes, for the overflow-safe path (summed by numpy, which gives IEEE infinity).
_MINUTES_OF_HOUR = """
SELECT series_id, min, max, sum, count FROM rollup_1m
WHERE bucket >= $1::timestamptz AND bucket < $1::timestamptz + interval '1 hour'
  AND ($2::bigint[] IS NULL OR series_id = ANY($2::bigint[]))
ORDER BY series_id
"""
_UPSERT_HOURS = """
INSERT INTO rollup_1h AS r (series_id, bucket, min, max, sum, count)
SELECT i.series_id, $1::timestamptz, i.min, i.max, i.sum, i.count
FROM unnest($2::bigint[], $3::float8[], $4::float8[], $5::float8[], $6::bigint[])
    AS i(series_id, min, max, sum, count)
ON CONFLICT (series_id, bucket) DO UPDATE SET
    min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum, count = EXCLUDED.count
"""
_UPSERT_MINUTES = """
INSERT INTO rollup_1m AS r (series_id, bucket, min, max, sum, count)
SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[],
                     $6::bigint[])
ON CONFLICT (series_id, bucket) DO UPDATE SET
    min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum, count = EXCLUDED.count
"""


async def refresh_rollups(
    conn: Connection, *, closed_before_ms: int | None, max_minutes: int = 60
) -> int:
    """Recompute pending minutes (only those ending by `closed_before_ms`, or all when None).

    Returns how many minutes were recomputed; 0 also when another process holds the job's lock.
    Minutes above the merge horizon are aggregated in SQL from the head; older ones (late data,
    or the upgrade's legacy rows) from merged samples, for the series that have rows in them:
    the sealing job only moves a minute's rows while its rollups are up to date, so the others'
    are already right. A float8 sum beyond the largest double is an error in PostgreSQL, so a
    batch that meets one is recomputed by numpy, whose sum is then infinite as IEEE 754 says:
    one huge value must not stall every rollup behind it.
    """
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _ROLLUP_LOCK_KEY):
        return 0
    try:
        cutoff = ms_to_datetime(closed_before_ms) if closed_before_ms is not None else None
        try:
            return await _refresh_batch(conn, cutoff, max_minutes, in_sql=True)
        except asyncpg.NumericValueOutOfRangeError:
            return await _refresh_batch(conn, cutoff, max_minutes, in_sql=False)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _ROLLUP_LOCK_KEY)


async def _refresh_batch(
    conn: Connection, cutoff: datetime | None, max_minutes: int, *, in_sql: bool
) -> int:
    async with history_snapshot(conn) as horizon:
        pending = await conn.fetch(
            """
            SELECT minute, version FROM rollup_pending
            WHERE $1::timestamptz IS NULL OR minute + interval '1 minute' <= $1::timestamptz
            ORDER BY minute LIMIT $2
            """,
            cutoff,
            max_minutes,
        )
        minutes = [row["minute"] for row in pending]
        merged = [
            m for m in minutes if not in_sql or datetime_to_ms(m) * 1000 < horizon.merge_before_us
        ]
        recomputed = [await _merged_minute(conn, horizon, minute) for minute in merged]
    if not pending:
        return 0
    async with conn.transaction():
        stale_hours = set(hours_of(merged))  # recomputed from their minutes at the end
        for minute in minutes:
            if minute not in merged:
                [hour] = hours_of([minute])
                if not await conn.fetchval(_RECOMPUTE_MINUTE_AND_FOLD, minute, hour):
                    stale_hours.add(hour)
        for b in recomputed:
            await conn.execute(
                _UPSERT_MINUTES, b.series_ids, [ms_to_datetime(t // 1000) for t in
                b.starts_us.tolist()], b.mins, b.maxs, b.sums, b.counts,
            )  # fmt: skip
        for hour in sorted(stale_hours):
            if in_sql:
                await conn.execute(_RECOMPUTE_HOUR, hour)
            else:
                await _hour_by_numpy(conn, hour)
        # Keep any mark a writer bumped meanwhile: its batch may be missing from the recompute.
        await conn.execute(
            """
            DELETE FROM rollup_pending p
            USING unnest($1::timestamptz[], $2::bigint[]) AS done(minute, version)
            WHERE p.minute = done.minute AND p.version = done.version
            """,
            minutes,
            [row["version"] for row in pending],
        )
    return len(pending)


async def correct_minutes(
    conn: Connection, horizon: Horizon, minutes: set[tuple[int, int]]
) -> None:
    """Recompute the rollups of these (series id, minute start µs) from merged samples, and
    their hours: for minutes whose rollups were computed before each sample was stored once
    (the schema before 041 rolled a retried batch up twice). In the caller's transaction."""
    if not minutes:
        return
    # Waits for a rollup batch in progress, which could otherwise write an hour from the
    # minutes as they were before this transaction.
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _ROLLUP_LOCK_KEY)
    ids = sorted({series_id for series_id, _ in minutes})
    starts = [start for _, start in minutes]
    merged = await read_merged(conn, horizon, ids, min(starts), max(starts) + MINUTE_MS * 1000)
    b = bucket_aggregates(merged.rows, MINUTE_MS * 1000)
    keys = zip(b.series_ids.tolist(), b.starts_us.tolist(), strict=True)
    wanted = np.array([key in minutes for key in keys], bool)
    await conn.execute(
        _UPSERT_MINUTES, b.series_ids[wanted], [ms_to_datetime(t // 1000) for t in
        b.starts_us[wanted].tolist()], b.mins[wanted], b.maxs[wanted], b.sums[wanted],
        b.counts[wanted],
    )  # fmt: skip
    for hour in hours_of(ms_to_datetime(start // 1000) for start in set(starts)):
        await _hour_by_numpy(conn, hour, ids)


async def _hour_by_numpy(
    conn: Connection, hour: datetime, series_ids: list[int] | None = None
) -> None:
    """The hour's rollups (of `series_ids`, or all) from its minutes, summed by numpy."""
    rows = await conn.fetch(_MINUTES_OF_HOUR, hour, series_ids)
    if not rows:
        return
    ids = np.array([row["series_id"] for row in rows], np.int64)
    first = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
    column = {name: np.array([row[name] for row in rows]) for name in ("min", "max", "sum")}
    counts = np.add.reduceat(np.array([row["count"] for row in rows], np.int64), first)
    with np.errstate(over="ignore", invalid="ignore"):  # inf, or NaN for inf + -inf: IEEE's sums
        sums = np.add.reduceat(column["sum"], first)
    await conn.execute(
        _UPSERT_HOURS, hour, ids[first], np.minimum.reduceat(column["min"], first),
        np.maximum.reduceat(column["max"], first), sums, counts,
    )  # fmt: skip


async def _merged_minute(conn: Connection, horizon: Horizon, minute: datetime) -> Buckets:
    start_us = datetime_to_ms(minute) * 1000
    end_us = start_us + MINUTE_MS * 1000
    rows = await row_form(conn, horizon, None, start_us, end_us)
    ids = np.unique(rows.series_ids).tolist()
    sealed = await fetch_chunks(conn, ids, start_us, end_us) if ids else rows.take(slice(0, 0))
    return bucket_aggregates(merge(concat_rows([rows, sealed])).rows, MINUTE_MS * 1000)


async def refresh_all_rollups(conn: Connection, *, closed_before_ms: int | None = None) -> int:
    """Run `refresh_rollups` until nothing (eligible) is pending; returns the minutes recomputed."""
    total = 0
    while (done := await refresh_rollups(conn, closed_before_ms=closed_before_ms)) > 0:
        total += done
    return total
