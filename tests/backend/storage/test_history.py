"""History reads: raw for an hour, rollups for 30 days, label matchers, at most ~2,000 points."""

from __future__ import annotations

import asyncpg

from backend.model import Sample
from backend.storage.history import list_metrics, query_history
from backend.storage.history_plan import MAX_POINTS
from backend.storage.rollups import ms_to_datetime
from backend.storage.writer import SampleWriter
from tests.backend.storage.storage_support import batch_of, now_ms, sample

HOUR = 3_600_000
DAY = 24 * HOUR


async def _write(pool: asyncpg.Pool, samples: list[Sample]) -> None:
    writer = SampleWriter(pool, batch_samples=5_000, flush_interval=0.05)
    await writer.start()
    for chunk in range(0, len(samples), 500):
        writer.enqueue(batch_of(*samples[chunk : chunk + 500]))
    await writer.stop(timeout=120)


async def test_one_hour_reads_raw_samples_at_their_own_resolution(pool: asyncpg.Pool) -> None:
    end = now_ms()
    end -= end % 2_000
    start = end - HOUR
    await _write(
        pool,
        [
            sample(float(i), start + i * 2_000, labels={"cpu": cpu})
            for i in range(1_800)
            for cpu in ("0", "1")
        ]
        + [sample(99, start, host="other-host", labels={"cpu": "0"})],
    )

    result = await query_history(
        pool, host="web-1", metric="system_cpu_utilization_ratio", start_ms=start, end_ms=end,
        step_seconds=None,
    )  # fmt: skip

    assert (result.resolution, result.step_seconds) == ("raw", 2)
    assert sorted(s.labels["cpu"] for s in result.series) == ["0", "1"]
    points = result.series[0].points
    assert len(points) == 1_800
    first_two = [(p.time_ms, p.avg, p.count) for p in points[:2]]
    assert first_two == [(start, 0.0, 1), (start + 2_000, 1.0, 1)]


async def test_a_finer_step_than_allowed_is_widened_to_max_points(pool: asyncpg.Pool) -> None:
    end = now_ms()
    start = end - HOUR
    await _write(pool, [sample(float(i), start + i * 1_000) for i in range(3_600)])

    result = await query_history(
        pool, host="web-1", metric="system_cpu_utilization_ratio", start_ms=start, end_ms=end,
        step_seconds=0.5,
    )  # fmt: skip

    (series,) = result.series
    assert len(series.points) <= MAX_POINTS
    assert sum(p.count for p in series.points) == 3_600
    assert result.step_seconds == 2


async def test_thirty_days_read_hourly_rollups_with_min_max_avg(pool: asyncpg.Pool) -> None:
    end = now_ms()
    end -= end % HOUR
    start = end - 30 * DAY
    # Two samples every six hours, 30 minutes apart, so each hour bucket holds a pair.
    samples = [
        sample(value, start + k * 6 * HOUR + offset, labels={"cpu": "0"})
        for k in range(120)
        for offset, value in ((0, float(k)), (30 * 60_000, float(k) + 10))
    ]
    await _write(pool, samples)

    result = await query_history(
        pool, host="web-1", metric="system_cpu_utilization_ratio", start_ms=start, end_ms=end,
        step_seconds=None,
    )  # fmt: skip

    assert (result.resolution, result.step_seconds) == ("1h", 3_600)
    points = result.series[0].points
    assert len(points) == 120
    assert (points[5].time_ms, points[5].min, points[5].max, points[5].avg, points[5].count) == (
        start + 5 * 6 * HOUR, 5.0, 15.0, 10.0, 2,
    )  # fmt: skip


async def test_one_day_reads_minute_rollups(pool: asyncpg.Pool) -> None:
    end = now_ms()
    end -= end % 60_000
    start = end - DAY
    await _write(pool, [sample(float(i), start + i * 600_000) for i in range(144)])

    result = await query_history(
        pool, host="web-1", metric="system_cpu_utilization_ratio", start_ms=start, end_ms=end,
        step_seconds=None,
    )  # fmt: skip

    assert (result.resolution, result.step_seconds) == ("1m", 60)
    assert [p.avg for p in result.series[0].points] == [float(i) for i in range(144)]


async def test_matchers_select_series_by_label_containment(pool: asyncpg.Pool) -> None:
    t = now_ms() - 60_000
    await _write(
        pool,
        [
            sample(1, t, labels={"cpu": "0", "mode": "user"}),
            sample(2, t, labels={"cpu": "0", "mode": "system"}),
            sample(3, t, labels={"cpu": "1", "mode": "user"}),
            sample(4, t, labels={"cpu": "0", "mode": 'it\'s "quoted"'}),
        ],
    )

    async def values(matchers: dict[str, str] | None) -> list[float]:
        result = await query_history(
            pool, host="web-1", metric="system_cpu_utilization_ratio", start_ms=t - 1,
            end_ms=t + 1, step_seconds=None, matchers=matchers,
        )  # fmt: skip
        return sorted(p.avg for s in result.series for p in s.points)

    assert await values(None) == [1, 2, 3, 4]
    assert await values({"mode": "user"}) == [1, 3]
    assert await values({"cpu": "0", "mode": "system"}) == [2]
    assert await values({"mode": 'it\'s "quoted"'}) == [4]
    assert await values({"mode": "nope"}) == []


async def test_too_many_series_are_truncated_and_flagged(pool: asyncpg.Pool) -> None:
    t = now_ms() - 60_000
    await _write(pool, [sample(i, t, labels={"pid": str(i)}) for i in range(5)])

    result = await query_history(
        pool, host="web-1", metric="system_cpu_utilization_ratio", start_ms=t - 1, end_ms=t + 1,
        step_seconds=None, max_series=3,
    )  # fmt: skip

    assert result.truncated
    assert len(result.series) == 3


async def test_list_metrics_names_what_a_host_reported(pool: asyncpg.Pool) -> None:
    t = now_ms()
    await _write(
        pool,
        [sample(1, t, name="b_metric"), sample(1, t, name="a_metric"), sample(1, t, host="x")],
    )
    assert await list_metrics(pool, "web-1") == ["a_metric", "b_metric"]
    assert await list_metrics(pool, "nobody") == []


async def test_samples_newer_than_the_rollups_are_read_raw_and_counted_once(
    pool: asyncpg.Pool,
) -> None:
    now = now_ms()
    start = now - DAY
    old, fresh = now - 3 * HOUR, now - 30_000
    await _write(pool, [sample(1, old), sample(2, fresh)])  # rolled up at writer stop
    # And one the rollup job has not reached yet: raw only, its minute still marked pending.
    await pool.execute(
        "INSERT INTO samples SELECT id, $1, 4 FROM series", ms_to_datetime(fresh + 1_000)
    )

    result = await query_history(
        pool, host="web-1", metric="system_cpu_utilization_ratio", start_ms=start, end_ms=now,
        step_seconds=None, now_ms=now,
    )  # fmt: skip

    assert result.resolution == "1m"
    points = result.series[0].points
    assert sum(p.count for p in points) == 3
    assert (points[0].avg, points[-1].max) == (1.0, 4.0)
