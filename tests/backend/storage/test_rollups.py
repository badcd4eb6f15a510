"""Rollups: equal to an independent computation from raw samples, re-rolled for late data."""

from __future__ import annotations

import math
import random
import sys
from datetime import UTC, datetime

import asyncpg

from backend.storage.history import query_history
from backend.storage.rollups import (
    HOUR_MS,
    MINUTE_MS,
    datetime_to_ms,
    hours_of,
    minutes_of,
    ms_to_datetime,
    refresh_all_rollups,
)
from backend.storage.writer import SampleWriter
from tests.backend.storage.storage_support import batch_of, now_ms, sample

Expected = dict[tuple[str, int], tuple[float, float, float, int]]


def _aggregate(points: list[tuple[str, int, float]], width_ms: int) -> Expected:
    """The reference computation: plain Python over what the test enqueued."""
    groups: dict[tuple[str, int], list[float]] = {}
    for cpu, time_ms, value in points:
        groups.setdefault((cpu, time_ms - time_ms % width_ms), []).append(value)
    return {key: (min(v), max(v), sum(v), len(v)) for key, v in groups.items()}


async def _rollup(pool: asyncpg.Pool, table: str) -> Expected:
    rows = await pool.fetch(
        f"""
        SELECT s.labels->>'cpu' AS cpu, r.bucket, r.min, r.max, r.sum, r.count
        FROM {table} r JOIN series s ON s.id = r.series_id
        """
    )
    return {
        (r["cpu"], datetime_to_ms(r["bucket"])): (r["min"], r["max"], r["sum"], r["count"])
        for r in rows
    }


def _close(actual: Expected, expected: Expected) -> bool:
    if actual.keys() != expected.keys():
        return False
    return all(
        a[0] == e[0] and a[1] == e[1] and abs(a[2] - e[2]) < 1e-6 and a[3] == e[3]
        for key in expected
        for a, e in [(actual[key], expected[key])]
    )


async def test_rollups_equal_an_independent_computation_over_raw_samples(
    pool: asyncpg.Pool,
) -> None:
    rng = random.Random(7)
    # Three hours back, aligned so the data crosses minute and hour boundaries.
    start = now_ms() - 3 * HOUR_MS
    start -= start % HOUR_MS
    points = [
        (cpu, start + HOUR_MS - 150_000 + i * 2_000 + rng.randrange(0, 1000), rng.uniform(-5, 100))
        for i in range(200)
        for cpu in ("0", "1")
    ]
    writer = SampleWriter(pool, batch_samples=64, flush_interval=0.05)
    await writer.start()
    for cpu, time_ms, value in points:
        writer.enqueue(batch_of(sample(value, time_ms, labels={"cpu": cpu})))
    await writer.stop(timeout=60)

    assert _close(await _rollup(pool, "rollup_1m"), _aggregate(points, MINUTE_MS))
    assert _close(await _rollup(pool, "rollup_1h"), _aggregate(points, HOUR_MS))
    assert await pool.fetchval("SELECT count(*) FROM rollup_pending") == 0


async def test_late_samples_are_rolled_into_their_old_minute(pool: asyncpg.Pool) -> None:
    minute = now_ms() - 2 * HOUR_MS
    minute -= minute % MINUTE_MS
    first = SampleWriter(pool, flush_interval=0.05)
    await first.start()
    first.enqueue(batch_of(sample(10, minute + 1_000, labels={"cpu": "0"})))
    await first.stop(timeout=30)

    late = SampleWriter(pool, flush_interval=0.05)
    await late.start()
    late.enqueue(batch_of(sample(30, minute + 59_000, labels={"cpu": "0"})))
    await late.stop(timeout=30)

    assert await _rollup(pool, "rollup_1m") == {("0", minute): (10.0, 30.0, 40.0, 2)}
    hour = minute - minute % HOUR_MS
    assert await _rollup(pool, "rollup_1h") == {("0", hour): (10.0, 30.0, 40.0, 2)}


async def test_the_periodic_job_leaves_minutes_that_have_not_ended(pool: asyncpg.Pool) -> None:
    closed = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    open_ = datetime(2030, 1, 1, 12, 1, tzinfo=UTC)
    await pool.execute("SELECT hostpulse_ensure_head_partition($1)", closed)
    await pool.execute(
        "INSERT INTO samples VALUES (1, $1, 1), (1, $2, 2)",
        closed,
        open_,
    )
    await pool.execute("INSERT INTO rollup_pending (minute) VALUES ($1), ($2)", closed, open_)

    async with pool.acquire() as conn:
        done = await refresh_all_rollups(conn, closed_before_ms=datetime_to_ms(open_) + 30_000)

    assert done == 1
    assert await pool.fetchval("SELECT count(*) FROM rollup_1m") == 1
    assert await pool.fetchval("SELECT minute FROM rollup_pending") == open_


def test_minutes_and_hours_of_times() -> None:
    base = datetime_to_ms(datetime(2030, 1, 1, 12, 59, 30, tzinfo=UTC))
    minutes = minutes_of([base, base + 10_000, base + 40_000, base])
    assert minutes == [ms_to_datetime(base - 30_000), ms_to_datetime(base + 30_000)]
    assert hours_of(minutes) == [
        datetime(2030, 1, 1, 12, tzinfo=UTC),
        datetime(2030, 1, 1, 13, tzinfo=UTC),
    ]


async def test_a_sum_beyond_the_largest_double_is_infinite_and_stalls_nothing(
    pool: asyncpg.Pool,
) -> None:
    """PostgreSQL's float8 sum raises on overflow; the rollup job must not stall on one minute
    (every later minute waits behind it), and history reads must answer."""
    big = sys.float_info.max
    minute = now_ms() - 2 * HOUR_MS
    minute -= minute % HOUR_MS - 10 * MINUTE_MS  # minutes 10 and 11 of an hour
    writer = SampleWriter(pool, flush_interval=0.05)
    await writer.start()
    writer.enqueue(batch_of(
        sample(big, minute + 1_000, labels={"cpu": "0"}),  # the minute's sum overflows
        sample(big, minute + 2_000, labels={"cpu": "0"}),
        sample(1.5, minute + 1_000, labels={"cpu": "1"}),
        sample(2.5, minute + 61_000, labels={"cpu": "1"}),  # a later minute, not held back
        sample(big, minute + 1_000, labels={"cpu": "2"}),  # the hour's sum overflows
        sample(big, minute + 61_000, labels={"cpu": "2"}),
    ))  # fmt: skip
    await writer.stop(timeout=30)  # brings the rollups up to date

    hour = minute - minute % HOUR_MS
    assert await pool.fetchval("SELECT count(*) FROM rollup_pending") == 0
    assert await _rollup(pool, "rollup_1m") == {
        ("0", minute): (big, big, math.inf, 2),
        ("1", minute): (1.5, 1.5, 1.5, 1),
        ("1", minute + MINUTE_MS): (2.5, 2.5, 2.5, 1),
        ("2", minute): (big, big, big, 1),
        ("2", minute + MINUTE_MS): (big, big, big, 1),
    }
    assert await _rollup(pool, "rollup_1h") == {
        ("0", hour): (big, big, math.inf, 2),
        ("1", hour): (1.5, 2.5, 4.0, 2),
        ("2", hour): (big, big, math.inf, 2),
    }
    # Raw samples summed in 30 s buckets, 1-minute rollups in 2-minute buckets, 1-hour rollups.
    for cpu, step in (("0", 30.0), ("2", 120.0), ("2", 3600.0)):
        result = await query_history(
            pool, host="web-1", metric="system_cpu_utilization_ratio", start_ms=hour,
            end_ms=hour + HOUR_MS, step_seconds=step, matchers={"cpu": cpu},
        )  # fmt: skip
        [point] = result.series[0].points
        assert (point.avg, point.max, point.count) == (math.inf, big, 2), step
