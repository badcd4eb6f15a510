"""grafana.raw_samples (042_grafana_reader.sql) over 041's storage: raw head rows from the merge
horizon on, 1-minute averages from the rollups before it (PostgreSQL cannot decode sealed
chunks); never both for one minute."""

from __future__ import annotations

import asyncpg
import pytest

from backend.model import Sample
from backend.storage.migrations import migrate
from tests.backend.storage.sealing_support import HOUR_MS, roll_up_and_seal, write
from tests.backend.storage.storage_support import now_ms

MINUTE_MS = 60_000


@pytest.mark.slow
async def test_grafana_reads_rows_above_the_horizon_and_rollups_below(
    empty_database_url: str,
) -> None:
    dsn = empty_database_url
    conn = await asyncpg.connect(dsn)
    try:
        # 042_grafana_reader.sql creates the view in the form 041 describes.
        assert "042_grafana_reader" in await migrate(conn)
    finally:
        await conn.close()

    end = now_ms() - MINUTE_MS
    old = end - 6 * HOUR_MS
    old -= old % MINUTE_MS
    samples = [Sample("g-1", "m", {}, old + i * 10_000, float(i)) for i in range(12)]
    samples += [Sample("g-1", "m", {}, end - i * 10_000, 100.0 + i) for i in range(3)]
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    assert pool is not None
    try:
        await write(pool, samples)
        await roll_up_and_seal(pool)
        assert await pool.fetchval("SELECT count(*) FROM sample_chunks") == 1

        async def view(start_ms: int, end_ms: int) -> list[tuple[int, float]]:
            rows = await pool.fetch(
                "SELECT (extract(epoch FROM time) * 1000)::int8 AS t, value "
                "FROM grafana.raw_samples WHERE time >= to_timestamp($1 / 1000.0) "
                "AND time < to_timestamp($2 / 1000.0) ORDER BY 1",
                start_ms,
                end_ms,
            )
            return [(r["t"], r["value"]) for r in rows]

        # Sealed: each minute once, its average (0..5, then 6..11), at the minute's start.
        assert await view(old, old + 2 * MINUTE_MS) == [(old, 2.5), (old + MINUTE_MS, 8.5)]
        # The head: the samples themselves.
        newest = [(end - 20_000, 102.0), (end - 10_000, 101.0), (end, 100.0)]
        assert await view(end - 30_000, end + 1) == newest
    finally:
        await pool.close()
