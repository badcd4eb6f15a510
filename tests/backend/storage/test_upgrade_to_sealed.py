"""Upgrade: a database filled by the schema before sealed chunks (day partitions, duplicates
remote_write retries left) is migrated, read at once, sealed by the same job; nothing is lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from backend.model import Sample
from backend.storage.history import query_history
from backend.storage.migrations import migrate
from backend.storage.sealed_reads import history_snapshot
from tests.backend.storage.sealing_support import migrate_up_to, read_back, roll_up_and_seal, write


@pytest.mark.slow
async def test_a_database_of_todays_schema_is_migrated_sealed_and_fully_readable(
    empty_database_url: str, tmp_path: Path
) -> None:
    dsn = empty_database_url
    await migrate_up_to(dsn, 32, tmp_path)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(days=2)
    times = [start + timedelta(minutes=i) for i in range(2 * 24 * 60)]
    rng = np.random.default_rng(11)
    values = {c: rng.normal(50, 10, len(times)).tolist() for c in ("0", "1")}
    conn = await asyncpg.connect(dsn)
    try:
        ids = {
            c: await conn.fetchval(
                "INSERT INTO series (metric, host, labels) VALUES ('cpu', 'old-host', $1) "
                "RETURNING id",
                f'{{"cpu": "{c}"}}',
            )
            for c in ("0", "1")
        }
        for offset in range(4):
            await conn.execute(
                "SELECT hostpulse_ensure_samples_partition($1)", start.date() + timedelta(offset)
            )
        rows = [(ids[c], t, v) for c in ids for t, v in zip(times, values[c], strict=True)]
        # The old schema stored a retried remote_write batch twice: 100 identical repeats, and
        # 10 conflicting ones whose larger value must win.
        rows += rows[:100]
        rows += [(sid, t, v + 1.0) for sid, t, v in rows[200:210]]
        await conn.copy_records_to_table("samples", records=rows)
        await conn.execute(
            "INSERT INTO rollup_1m SELECT series_id, date_bin('1 minute', time, 'epoch'), "
            "min(value), max(value), sum(value), count(*) FROM samples GROUP BY 1, 2"
        )
        await conn.execute(
            "INSERT INTO rollup_1h SELECT series_id, date_bin('1 hour', bucket, 'epoch'), "
            "min(min), max(max), sum(sum), sum(count) FROM rollup_1m GROUP BY 1, 2"
        )
    finally:
        await conn.close()
    for t_index in range(200, 210):
        values["0"][t_index] += 1.0
    expected = {
        (ids[c], int(t.timestamp() * 1000)): v
        for c in ids
        for t, v in zip(times, values[c], strict=True)
    }

    conn = await asyncpg.connect(dsn)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    assert applied[:1] == ["041_sealed_chunks"]  # then the later migrations
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    assert pool is not None
    try:
        assert await pool.fetchval("SELECT to_regclass('samples_legacy') IS NOT NULL")

        async def everything() -> dict[tuple[int, int], float]:
            got = await read_back(
                pool, int(start.timestamp() * 1000), int(now.timestamp() * 1000) + 60_000
            )
            return {
                (sid, t // 1000): v
                for sid, t, v in zip(
                    got.series_ids.tolist(), got.times_us.tolist(), got.values.tolist(), strict=True
                )
            }

        # Readable right after the upgrade, each sample once, before anything is sealed.
        assert await everything() == expected
        hour = await query_history(
            pool, host="old-host", metric="cpu", start_ms=int(times[200].timestamp() * 1000),
            end_ms=int(times[260].timestamp() * 1000), step_seconds=None, matchers={"cpu": "0"},
        )  # fmt: skip
        assert hour.resolution == "raw"
        assert [p.avg for p in hour.series[0].points] == values["0"][200:260]
        # Ingest goes on into the new head meanwhile.
        await write(
            pool, [Sample("old-host", "cpu", {"cpu": "0"}, int(now.timestamp() * 1000) + 5, 1.0)]
        )
        expected[ids["0"], int(now.timestamp() * 1000) + 5] = 1.0

        sealer = await roll_up_and_seal(pool)
        assert (sealer.stats.duplicates, sealer.stats.conflicts) == (100, 10)
        assert not await pool.fetchval("SELECT to_regclass('samples_legacy') IS NOT NULL")
        assert await everything() == expected
        async with pool.acquire() as reader, history_snapshot(reader) as horizon:
            assert not horizon.legacy
        sealed = await pool.fetchval("SELECT sum(samples) FROM sample_chunks")
        assert sealed + await pool.fetchval("SELECT count(*) FROM samples") == len(expected)
        # The rollups the old schema inflated with the repeats now count each sample once.
        assert await rollups(pool, "rollup_1m") == aggregates(expected, 60_000)
        assert await rollups(pool, "rollup_1h") == aggregates(expected, 3_600_000)
    finally:
        await pool.close()


Aggregates = dict[tuple[int, int], tuple[float, float, float, int]]


def aggregates(samples: dict[tuple[int, int], float], width_ms: int) -> Aggregates:
    groups: dict[tuple[int, int], list[float]] = {}
    for (series_id, time_ms), value in sorted(samples.items()):
        groups.setdefault((series_id, time_ms - time_ms % width_ms), []).append(value)
    return {key: (min(v), max(v), round(sum(v), 6), len(v)) for key, v in groups.items()}


async def rollups(pool: asyncpg.Pool, table: str) -> Aggregates:
    rows = await pool.fetch(
        "SELECT series_id, (extract(epoch FROM bucket) * 1000)::int8 AS t, min, max, sum, count "
        f"FROM {table}"
    )
    return {
        (r["series_id"], r["t"]): (r["min"], r["max"], round(r["sum"], 6), r["count"]) for r in rows
    }
