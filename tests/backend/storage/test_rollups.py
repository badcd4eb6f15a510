"""Rollups: equal to an independent computation from raw samples, re-rolled for late data."""

from __future__ import annotations

import math
import random
import sys
from datetime import UTC, datetime, timedelta

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


async def _hour_row(pool: asyncpg.Pool, hour: datetime) -> tuple[float, float, float, int]:
    row = await pool.fetchrow(
        "SELECT min, max, sum, count FROM rollup_1h WHERE series_id = 1 AND bucket = $1", hour
    )
    assert row is not None, f"no rollup_1h row for {hour}"
    return (row["min"], row["max"], row["sum"], row["count"])


async def _add(pool: asyncpg.Pool, *points: tuple[datetime, float]) -> None:
    """Rows in the head and their minutes marked, as the writer's transaction does."""
    for at, value in points:
        await pool.execute("SELECT hostpulse_ensure_head_partition($1)", at)
        await pool.execute("INSERT INTO samples VALUES (1, $1, $2)", at, value)
    await pool.execute(
        "INSERT INTO rollup_pending (minute) SELECT DISTINCT unnest($1::timestamptz[]) ON CONFLICT "
        "(minute) DO UPDATE SET version = rollup_pending.version + 1",
        [at.replace(second=0, microsecond=0) for at, _ in points],
    )


async def _job(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await refresh_all_rollups(conn, closed_before_ms=None)


async def test_each_closing_minute_is_folded_into_its_hour_once(pool: asyncpg.Pool) -> None:
    """Minutes rolled up one job run at a time are folded into the hour (not the hour recomputed
    from every minute each time); a minute rolled up again after a late sample replaces its own
    share instead of being added twice."""
    hour = datetime(2030, 1, 1, 12, tzinfo=UTC)
    await _add(
        pool, (hour.replace(minute=1, second=5), 4.0), (hour.replace(minute=1, second=7), 6.0)
    )
    await _job(pool)
    assert await _hour_row(pool, hour) == (4.0, 6.0, 10.0, 2)

    await _add(pool, (hour.replace(minute=2, second=1), -1.0))
    await _job(pool)
    assert await _hour_row(pool, hour) == (-1.0, 6.0, 9.0, 3)

    await _add(pool, (hour.replace(minute=1, second=30), 20.0))  # late, for a minute rolled up
    await _job(pool)
    assert await _hour_row(pool, hour) == (-1.0, 20.0, 29.0, 4)
    assert await pool.fetchval("SELECT count(*) FROM rollup_pending") == 0


async def test_an_old_hour_is_recomputed_from_its_minutes_not_folded(pool: asyncpg.Pool) -> None:
    """A minute a day old or more may be new to rollup_1m only because retention removed its
    rows: folding it in would count what the hour's row already holds a second time."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    await pool.execute(  # the hour as rolled up before its minutes' rollups expired
        "INSERT INTO rollup_1h VALUES (1, $1, 1.0, 9.0, 50.0, 10)", hour
    )
    await _add(pool, (hour.replace(minute=5, second=2), 3.0))
    await _job(pool)
    assert await _hour_row(pool, hour) == (3.0, 3.0, 3.0, 1)
