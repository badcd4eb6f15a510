"""Retention against the real PostgreSQL: exactly what is older than each limit goes, nothing
newer, while the writer keeps ingesting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from backend.model import IngestBatch, Sample
from backend.storage.retention import (
    RetentionSettings,
    enforce_retention,
    partitions_to_drop,
)
from backend.storage.writer import SampleWriter
from tests.backend.running import serve, service_settings, wait_for
from tests.backend.storage.sealing_support import read_back, roll_up_and_seal, write

DAY = timedelta(days=1)
SETTINGS = RetentionSettings.model_validate(
    {
        "raw_samples": "7d",
        "rollup_1m": "30d",
        "rollup_1h": "365d",
        "alert_history": "90d",
        "process_snapshots": "7d",
        "batch_rows": 7,  # small, so every table needs several batches
        "batch_pause": "1ms",
    }
)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=6)
    try:
        yield pool
    finally:
        await pool.close()


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def around(cutoff: datetime, older: int, newer: int, step: timedelta) -> list[datetime]:
    """`older` times before the cutoff and `newer` after it, the nearest 1 s from it."""
    before = [cutoff - timedelta(seconds=1) - i * step for i in range(older)]
    after = [cutoff + timedelta(seconds=1) + i * step for i in range(newer)]
    return before + after


async def seed(pool: asyncpg.Pool, now: datetime) -> dict[str, list[datetime]]:
    """Rows on both sides of every limit; returns the times written per table."""
    series_id = await pool.fetchval(
        "INSERT INTO series (metric, host) VALUES ('cpu', 'old-1') RETURNING id"
    )
    written: dict[str, list[datetime]] = {}
    # Raw samples: one every 6 h from 10 days ago to now, sealed into chunks by the real job
    # (the newest stay in the head).
    raw = [(now - timedelta(hours=6 * i)).replace(microsecond=0) for i in range(41)]
    await write(pool, [Sample("old-1", "cpu", {}, int(t.timestamp() * 1000), 1.0) for t in raw])
    await roll_up_and_seal(pool)
    assert await pool.fetchval("SELECT count(*) FROM sample_chunks") > 30
    written["samples"] = raw
    for table, keep in (("rollup_1m", SETTINGS.rollup_1m), ("rollup_1h", SETTINGS.rollup_1h)):
        times = around(now - timedelta(seconds=keep), 20, 5, timedelta(minutes=1))
        await pool.executemany(
            f"INSERT INTO {table} (series_id, bucket, min, max, sum, count) "
            "VALUES ($1, $2, 1, 1, 1, 1)",
            [(series_id, t) for t in times],
        )
        written[table] = times
    snapshots = around(
        now - timedelta(seconds=SETTINGS.process_snapshots), 20, 5, timedelta(hours=1)
    )
    await pool.executemany(
        "INSERT INTO process_snapshots (host, time, processes) VALUES ('old-1', $1, '[]')",
        [(t,) for t in snapshots],
    )
    written["process_snapshots"] = snapshots
    if await pool.fetchval("SELECT to_regclass('alert_transitions') IS NOT NULL"):
        transitions = around(now - timedelta(seconds=SETTINGS.alert_history), 20, 5, DAY)
        await pool.executemany(
            "INSERT INTO alert_transitions (rule, labels, from_state, to_state, at) "
            "VALUES ('HighCpu', '{}', 'pending', 'firing', $1)",
            [(t,) for t in transitions],
        )
        written["alert_transitions"] = transitions
        deliveries = around(now - timedelta(seconds=SETTINGS.alert_history), 20, 5, DAY)
        # Each delivery points at the transition of the same time: old ones at deleted rows.
        await pool.executemany(
            "INSERT INTO notification_deliveries "
            "(target_kind, target_url, transition_id, body, created_at) "
            "SELECT 'webhook', 'http://127.0.0.1:9/', id, '{}', $1 "
            "FROM alert_transitions WHERE at = $1",
            [(t,) for t in deliveries],
        )
        written["notification_deliveries"] = deliveries
    return written


# Only the seeded rows: the live writer adds its own samples and rollups meanwhile.
SEEDED = {
    "samples": "series_id = (SELECT id FROM series WHERE host = 'old-1')",
    "rollup_1m": "series_id = (SELECT id FROM series WHERE host = 'old-1')",
    "rollup_1h": "series_id = (SELECT id FROM series WHERE host = 'old-1')",
    "process_snapshots": "host = 'old-1'",
    "alert_transitions": "true",
    "notification_deliveries": "true",
}


async def raw_times(pool: asyncpg.Pool) -> list[datetime]:
    """Every raw sample time of the seeded series, sealed or in the head, newest first."""
    rows = await read_back(pool, 0, int(datetime.now(UTC).timestamp() * 1000) + 60_000)
    seeded = await pool.fetchval("SELECT id FROM series WHERE host = 'old-1'")
    times = rows.times_us[rows.series_ids == seeded] // 1000
    return sorted((datetime.fromtimestamp(t / 1000, UTC) for t in times.tolist()), reverse=True)


async def times_in(pool: asyncpg.Pool, table: str, column: str) -> list[datetime]:
    rows = await pool.fetch(
        f'SELECT "{column}" AS t FROM {table} WHERE {SEEDED[table]} ORDER BY 1 DESC'
    )
    return [row["t"] for row in rows]


async def keep_ingesting(pool: asyncpg.Pool, stop: asyncio.Event) -> int:
    """The writer storing fresh samples until `stop`; returns how many it was given."""
    writer = SampleWriter(pool, flush_interval=0.02)
    await writer.start()
    sent = 0
    try:
        while not stop.is_set():
            now_ms = int(datetime.now(UTC).timestamp() * 1000)
            samples = [Sample("live-1", "cpu", {"cpu": str(c)}, now_ms, 0.5) for c in range(50)]
            writer.enqueue(IngestBatch("json", samples))
            sent += len(samples)
            await asyncio.sleep(0.01)
    finally:
        await writer.stop(10)
    return sent


async def test_retention_removes_exactly_what_is_older_than_each_limit_while_ingesting(
    pool: asyncpg.Pool,
) -> None:
    now = datetime.now(UTC)
    written = await seed(pool, now)
    stop = asyncio.Event()
    ingest = asyncio.create_task(keep_ingesting(pool, stop))
    try:
        await asyncio.sleep(0.2)  # the writer is in full flow before retention starts
        report = await enforce_retention(pool, SETTINGS, now=now)
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        sent = await ingest

    # Sealed raw samples go by whole UTC days: a day's chunks are dropped once all of it is
    # older than 7 days.
    raw_cutoff = now - timedelta(seconds=SETTINGS.raw_samples)
    kept_raw = [t for t in written["samples"] if midnight(t) + DAY > raw_cutoff]
    assert await raw_times(pool) == sorted(kept_raw, reverse=True)
    assert all(t > raw_cutoff - DAY for t in kept_raw)
    assert any(t < raw_cutoff for t in written["samples"])  # the test did seed older samples
    dropped_days = sorted(
        {midnight(t) for t in written["samples"]} - {midnight(t) for t in kept_raw}
    )
    assert report.dropped_partitions == [f"sample_chunks_p{d:%Y%m%d}" for d in dropped_days]
    assert not await pool.fetchval(
        "SELECT count(*) FROM sealed_day_stats WHERE day = ANY($1::date[])",
        [d.date() for d in dropped_days],
    )

    limits = {
        "rollup_1m": ("bucket", SETTINGS.rollup_1m),
        "rollup_1h": ("bucket", SETTINGS.rollup_1h),
        "process_snapshots": ("time", SETTINGS.process_snapshots),
        "alert_transitions": ("at", SETTINGS.alert_history),
        "notification_deliveries": ("created_at", SETTINGS.alert_history),
    }
    for table, times in written.items():
        if table == "samples":
            continue
        column, keep = limits[table]
        cutoff = now - timedelta(seconds=keep)
        remaining = await times_in(pool, table, column)
        assert not [t for t in remaining if t < cutoff], f"{table}: older rows left"
        newer = {t for t in times if t >= cutoff}
        assert newer <= set(remaining), f"{table}: newer rows removed"
        assert report.deleted_rows[table] == 20, table

    # Ingest went on: every sample given to the writer during retention is stored.
    stored = await pool.fetchval(
        "SELECT count(*) FROM samples s JOIN series r ON r.id = s.series_id WHERE r.host = 'live-1'"
    )
    assert sent > 0
    assert stored == sent


async def test_expired_sessions_are_swept_and_live_ones_kept(pool: asyncpg.Pool) -> None:
    user_id = await pool.fetchval(
        "INSERT INTO users (name, role, password_hash) VALUES ('u', 'viewer', '$argon2id$x') "
        "RETURNING id"
    )
    for i, offset in enumerate((-60, -1, 60)):
        await pool.execute(
            "INSERT INTO user_sessions (token_hash, user_id, expires_at) "
            "VALUES ($1, $2, now() + make_interval(secs => $3))",
            bytes([i]) * 32,
            user_id,
            float(offset),
        )
    report = await enforce_retention(pool, SETTINGS)
    assert report.deleted_rows["user_sessions"] == 2
    assert await pool.fetchval("SELECT count(*) FROM user_sessions") == 1


async def test_a_second_process_skips_while_one_runs(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as holder:
        await holder.execute("SELECT pg_advisory_lock(x'4850526574656E74'::bigint)")
        try:
            report = await enforce_retention(pool, SETTINGS)
        finally:
            await holder.execute("SELECT pg_advisory_unlock(x'4850526574656E74'::bigint)")
    assert report.skipped


def test_partitions_to_drop_keeps_a_day_until_all_of_it_is_older_than_the_limit() -> None:
    now = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    names = [f"sample_chunks_p202611{d:02d}" for d in range(18, 28)] + ["samples_default", "other"]
    # Cutoff 2026-11-20 04:00: the 19th ended before it, the 20th did not.
    assert partitions_to_drop(names, now, 7 * 86400) == [
        "sample_chunks_p20261118",
        "sample_chunks_p20261119",
    ]
    # Head windows and the previous schema's days go the same way, should any be left.
    assert partitions_to_drop(
        ["samples_h2026112002", "samples_h2026112004", "samples_p20261119"], now, 7 * 86400
    ) == ["samples_h2026112002", "samples_p20261119"]


def test_settings_take_prometheus_durations() -> None:
    settings = RetentionSettings.model_validate({"raw_samples": "3d", "interval": "10m"})
    assert settings.raw_samples == 3 * 86400
    assert settings.interval == 600
    assert orjson.loads(settings.model_dump_json())["raw_samples"] == "72h"


async def test_the_backend_runs_retention_periodically(
    pool: asyncpg.Pool, database_url: str, redis_url: str, redis_prefix: str, redis_client: object
) -> None:
    series_id = await pool.fetchval(
        "INSERT INTO series (metric, host) VALUES ('cpu', 'old-1') RETURNING id"
    )
    settings = service_settings(
        database_url, redis_url, redis_prefix, retention={"rollup_1m": "1h", "interval": "200ms"}
    )
    async with serve(settings):
        # Rows that age past the limit while the backend runs are removed by a later pass.
        await pool.execute(
            "INSERT INTO rollup_1m (series_id, bucket, min, max, sum, count) "
            "VALUES ($1, now() - interval '2 hours', 1, 1, 1, 1)",
            series_id,
        )

        async def removed() -> bool:
            return not await pool.fetchval("SELECT count(*) FROM rollup_1m")

        await wait_for(removed, within=15, what="the periodic retention pass")
