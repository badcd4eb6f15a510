"""History reads: one host's metric over a time range, from raw samples or rollups, by step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import numpy as np
import orjson

from backend.storage.chunk_store import copy_out
from backend.storage.history_plan import QueryPlan, Resolution, plan_query, raw_tail_start
from backend.storage.postgres import Connection
from backend.storage.rollups import HOUR_MS, MINUTE_MS, ms_to_datetime
from backend.storage.sample_merge import (
    Buckets,
    bucket_aggregates,
    columns_from_copy,
    combine_buckets,
    runs,
)
from backend.storage.sealed_reads import Horizon, history_snapshot, read_merged

DEFAULT_MAX_SERIES = 500


@dataclass(slots=True)  # not frozen: thousands are built per query, and frozen init is slower
class HistoryPoint:
    time_ms: int  # bucket start, aligned to a multiple of the step since the epoch
    avg: float
    min: float
    max: float
    count: int  # raw samples the bucket aggregates


@dataclass(frozen=True, slots=True)
class HistorySeries:
    metric: str
    host: str
    labels: dict[str, str]
    points: list[HistoryPoint]


@dataclass(frozen=True, slots=True)
class HistoryResult:
    resolution: Resolution
    step_seconds: int
    series: list[HistorySeries]
    truncated: bool  # more series matched than max_series; the first ones (by id) are returned


_SERIES = """
SELECT id, labels::text AS labels FROM series
WHERE host = $1 AND metric = $2 AND ($3::jsonb IS NULL OR labels @> $3::jsonb)
ORDER BY id LIMIT $4
"""
# Buckets are grouped as timestamps (cheap per row) and turned into unix ms once per bucket,
# so Python builds no datetime objects for thousands of rows.
_BUCKETED = """
SELECT series_id, (date_part('epoch', bucket) * 1000)::int8 AS bucket_ms, sum, min, max, count
FROM ({inner}) AS buckets
"""
# Above the merge horizon only the head holds samples, unique per (series, time): SQL aggregates.
_HEAD = _BUCKETED.format(
    inner="""
    SELECT series_id, date_bin($4::interval, time, 'epoch'::timestamptz) AS bucket,
           sum(value) AS sum, min(value) AS min, max(value) AS max, count(*) AS count
    FROM samples
    WHERE series_id = ANY($1::bigint[]) AND time >= $2 AND time < $3
    GROUP BY 1, 2
    """
)
_ROLLUP = _BUCKETED.format(
    inner="""
    SELECT series_id, date_bin($4::interval, bucket, 'epoch'::timestamptz) AS bucket,
           sum(sum) AS sum, min(min) AS min, max(max) AS max, sum(count)::int8 AS count
    FROM {table}
    WHERE series_id = ANY($1::bigint[]) AND bucket >= $2 AND bucket < $3
    GROUP BY 1, 2
    """
)
# The rows of the same buckets unsummed, for when a float8 sum overflows in SQL (an error there):
# _assemble adds them up in numpy, which gives infinity as IEEE 754 does.
_ROLLUP_ROWS = """
SELECT series_id, (date_part('epoch', date_bin($4::interval, bucket, 'epoch'::timestamptz))
                   * 1000)::int8 AS bucket_ms, sum, min, max, count
FROM {table}
WHERE series_id = ANY($1::bigint[]) AND bucket >= $2 AND bucket < $3
"""
_ROLLUP_TABLES: dict[Resolution, tuple[str, str, int]] = {
    "1m": (_ROLLUP.format(table="rollup_1m"), _ROLLUP_ROWS.format(table="rollup_1m"), MINUTE_MS),
    "1h": (_ROLLUP.format(table="rollup_1h"), _ROLLUP_ROWS.format(table="rollup_1h"), HOUR_MS),
}
# Bucket rows come by binary COPY as columns: (series_id, bucket_ms, sum, min, max, count).
_BUCKET_TYPES = (">i8", ">i8", ">f8", ">f8", ">f8", ">i8")


async def query_history(
    pool: asyncpg.Pool,
    *,
    host: str,
    metric: str,
    start_ms: int,
    end_ms: int,
    step_seconds: float | None,
    matchers: dict[str, str] | None = None,
    max_series: int = DEFAULT_MAX_SERIES,
    now_ms: int | None = None,
) -> HistoryResult:
    """Every series of `metric` on `host` whose labels contain `matchers`, bucketed by the plan."""
    plan = plan_query(start_ms, end_ms, step_seconds)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    tail_ms = raw_tail_start(plan, start_ms, end_ms, now)
    containment = orjson.dumps(matchers).decode() if matchers else None
    async with pool.acquire() as conn:
        try:
            found = await _read(conn, plan, host, metric, containment, max_series, start_ms,
                                end_ms, tail_ms, in_sql=True)  # fmt: skip
        except asyncpg.NumericValueOutOfRangeError:  # a float8 sum beyond the largest double
            found = await _read(conn, plan, host, metric, containment, max_series, start_ms,
                                end_ms, tail_ms, in_sql=False)  # fmt: skip
    series_rows, parts, truncated = found
    return HistoryResult(
        plan.resolution, plan.step_seconds, _assemble(series_rows, parts, host, metric), truncated
    )


async def _read(
    conn: Connection,
    plan: QueryPlan,
    host: str,
    metric: str,
    containment: str | None,
    max_series: int,
    start_ms: int,
    end_ms: int,
    tail_ms: int | None,
    *,
    in_sql: bool,
) -> tuple[list[asyncpg.Record], list[Buckets], bool]:
    """(series, bucket parts, truncated); `in_sql` False adds nothing up in SQL."""
    async with history_snapshot(conn) as horizon:
        series_rows = await conn.fetch(_SERIES, host, metric, containment, max_series + 1)
        truncated = len(series_rows) > max_series
        series_rows = series_rows[:max_series]
        if not series_rows:
            return [], [], False
        ids = [row["id"] for row in series_rows]
        step_ms = plan.step_seconds * 1000
        if plan.resolution == "raw":
            return series_rows, await raw_buckets(conn, horizon, ids, start_ms, end_ms, step_ms,
                                                  in_sql=in_sql), truncated  # fmt: skip
        summed, unsummed, unit_ms = _ROLLUP_TABLES[plan.resolution]
        # A rollup bucket counts when it starts inside the range (start floored to its width).
        first_ms = start_ms - start_ms % unit_ms
        until_ms = end_ms if tail_ms is None else tail_ms
        step = timedelta(milliseconds=step_ms)
        query = summed if in_sql else unsummed
        parts = [await _copy_buckets(conn, query, ids, ms_to_datetime(first_ms),
                                     ms_to_datetime(until_ms), step)]  # fmt: skip
        if tail_ms is not None:  # the last minutes, which the rollup job may not have reached
            parts += await raw_buckets(conn, horizon, ids, tail_ms, end_ms, step_ms, in_sql=in_sql)
    return series_rows, parts, truncated


async def _copy_buckets(conn: Connection, query: str, *args: object) -> Buckets:
    series_ids, bucket_ms, sums, mins, maxs, counts = columns_from_copy(
        await copy_out(conn, query, *args), _BUCKET_TYPES
    )
    return Buckets(series_ids, bucket_ms * 1000, sums, mins, maxs, counts)


async def raw_buckets(
    conn: Connection,
    horizon: Horizon,
    ids: list[int],
    start_ms: int,
    end_ms: int,
    step_ms: int,
    *,
    in_sql: bool = True,
) -> list[Buckets]:
    """Raw samples of [start, end) bucketed by `step_ms`, aggregated by numpy from merged samples
    (head, late, legacy and chunks); except for buckets of a minute or more above the merge
    horizon (a rollup query's raw tail), which SQL aggregates unless `in_sql` is False: there it
    sends far fewer rows than samples. Raw-plan buckets hold about one sample each, and numpy
    takes about half the time PostgreSQL's hash aggregate does (measured on a 4-series hour)."""
    split_ms = end_ms
    if in_sql and step_ms >= MINUTE_MS:
        split_ms = min(max(start_ms, horizon.merge_before_us // 1000), end_ms)
    parts: list[Buckets] = []
    if split_ms < end_ms:
        step = timedelta(milliseconds=step_ms)
        bounds = (ms_to_datetime(split_ms), ms_to_datetime(end_ms))
        parts.append(await _copy_buckets(conn, _HEAD, ids, *bounds, step))
    if start_ms < split_ms:
        merged = await read_merged(conn, horizon, ids, start_ms * 1000, split_ms * 1000)
        parts.append(bucket_aggregates(merged.rows, step_ms * 1000))
    return parts


def _assemble(
    series_rows: list[asyncpg.Record], parts: list[Buckets], host: str, metric: str
) -> list[HistorySeries]:
    # A bucket straddling the merge horizon (or the rollup/raw switch) arrives in two parts.
    b = combine_buckets(parts)
    avgs = b.sums / np.maximum(b.counts, 1)
    by_series: dict[int, list[HistoryPoint]] = {}
    times, avg_list, mins, maxs, counts = (
        (b.starts_us // 1000).tolist(), avgs.tolist(), b.mins.tolist(), b.maxs.tolist(),
        b.counts.tolist(),
    )  # fmt: skip
    for lo, hi in runs(b.series_ids):
        by_series[int(b.series_ids[lo])] = list(
            map(HistoryPoint, times[lo:hi], avg_list[lo:hi], mins[lo:hi], maxs[lo:hi],
                counts[lo:hi])
        )  # fmt: skip
    return [
        HistorySeries(metric, host, orjson.loads(row["labels"]), by_series.get(row["id"], []))
        for row in series_rows
    ]


async def list_metrics(pool: asyncpg.Pool, host: str) -> list[str]:
    """The metric names `host` has ever reported, sorted."""
    rows = await pool.fetch("SELECT DISTINCT metric FROM series WHERE host = $1 ORDER BY 1", host)
    return [row["metric"] for row in rows]


__all__ = [
    "HistoryPoint",
    "HistoryResult",
    "HistorySeries",
    "QueryPlan",
    "list_metrics",
    "plan_query",
    "query_history",
]
