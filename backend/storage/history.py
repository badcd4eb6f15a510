"""History reads: one host's metric over a time range, from raw samples or rollups, by step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import orjson

from backend.storage.history_plan import QueryPlan, Resolution, plan_query, raw_tail_start
from backend.storage.rollups import HOUR_MS, MINUTE_MS, ms_to_datetime

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
SELECT series_id, (date_part('epoch', bucket) * 1000)::int8 AS bucket_ms, avg, min, max, count
FROM ({inner}) AS buckets
ORDER BY series_id, bucket
"""
_RAW = _BUCKETED.format(
    inner="""
    SELECT series_id, date_bin($4::interval, time, 'epoch'::timestamptz) AS bucket,
           avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS count
    FROM samples
    WHERE series_id = ANY($1::bigint[]) AND time >= $2 AND time < $3
    GROUP BY 1, 2
    """
)
_ROLLUP = _BUCKETED.format(
    inner="""
    SELECT series_id, date_bin($4::interval, bucket, 'epoch'::timestamptz) AS bucket,
           sum(sum) / sum(count)::float8 AS avg, min(min) AS min, max(max) AS max,
           sum(count)::int8 AS count
    FROM {table}
    WHERE series_id = ANY($1::bigint[]) AND bucket >= $2 AND bucket < $3
    GROUP BY 1, 2
    """
)
_TABLES: dict[Resolution, tuple[str, int]] = {
    "raw": (_RAW, 1),
    "1m": (_ROLLUP.format(table="rollup_1m"), MINUTE_MS),
    "1h": (_ROLLUP.format(table="rollup_1h"), HOUR_MS),
}


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
        series_rows = await conn.fetch(_SERIES, host, metric, containment, max_series + 1)
        truncated = len(series_rows) > max_series
        series_rows = series_rows[:max_series]
        if not series_rows:
            return HistoryResult(plan.resolution, plan.step_seconds, [], truncated=False)
        sql, unit_ms = _TABLES[plan.resolution]
        ids = [row["id"] for row in series_rows]
        step = timedelta(seconds=plan.step_seconds)
        # A rollup bucket counts when it starts inside the range (start floored to its width).
        first_ms = start_ms - start_ms % unit_ms
        until_ms = end_ms if tail_ms is None else tail_ms
        rows = await conn.fetch(sql, ids, ms_to_datetime(first_ms), ms_to_datetime(until_ms), step)
        if tail_ms is not None:  # the last minutes, which the rollup job may not have reached
            rows += await conn.fetch(
                _RAW, ids, ms_to_datetime(tail_ms), ms_to_datetime(end_ms), step
            )
    return HistoryResult(
        plan.resolution, plan.step_seconds, _assemble(series_rows, rows, host, metric), truncated
    )


def _assemble(
    series_rows: list[asyncpg.Record], rows: list[asyncpg.Record], host: str, metric: str
) -> list[HistorySeries]:
    points: dict[int, list[HistoryPoint]] = {row["id"]: [] for row in series_rows}
    for series_id, bucket_ms, avg, low, high, count in rows:
        points[series_id].append(HistoryPoint(bucket_ms, avg, low, high, count))
    return [
        HistorySeries(metric, host, orjson.loads(row["labels"]), points[row["id"]])
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
