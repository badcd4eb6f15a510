"""The sealing job's process killed (SIGKILL) in the middle of a pass, then a pass run again:
nothing lost, nothing doubled, every sample back bit for bit."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

from backend.model import Sample
from backend.storage.sealing import Sealer, SealingSettings, frontier_for
from tests.backend.storage.sealing_support import FAST, HOUR_MS, read_back, roll_up_and_seal, write

ROOT = Path(__file__).resolve().parents[3]
# One series per transaction and a pause after each: slow enough to be killed half way.
SEALING_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    import asyncpg
    from backend.storage import sealing
    from backend.storage.sealing import Sealer, SealingSettings

    seal_batch = Sealer._seal_batch

    async def slow_batch(self, conn, name, first, end):
        await seal_batch(self, conn, name, first, end)
        await asyncio.sleep(0.05)

    Sealer._seal_batch = slow_batch

    async def main():
        pool = await asyncpg.create_pool(sys.argv[1], min_size=1, max_size=3)
        await Sealer(pool, SealingSettings(batch_series=1), clock=None).run_pass()

    asyncio.run(main())
    """
)


async def until_some_chunks_are_written(pool: asyncpg.Pool) -> None:
    while await pool.fetchval("SELECT count(*) FROM sample_chunks") < 10:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_a_sealing_process_killed_mid_pass_loses_and_doubles_nothing(
    pool: asyncpg.Pool, database_url: str
) -> None:
    end = int(frontier_for(datetime.now(UTC), FAST.grace).timestamp() * 1000)  # all frozen
    start = end - 4 * HOUR_MS
    rng = np.random.default_rng(3)
    samples = [
        Sample("crash-1", "m", {"n": str(n)}, t, float(v))
        for n in range(40)
        for t, v in zip(range(start, end, 20_000), rng.normal(0, 1, 720).tolist(), strict=False)
    ]
    await write(pool, samples)
    expected = {(s.labels["n"], s.time_ms): s.value for s in samples}

    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SEALING_PROCESS, database_url, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            await until_some_chunks_are_written(pool)
        child.send_signal(signal.SIGKILL)
    finally:
        await child.wait()
    # Killed half way: some chunks written, their rows still in the head too.
    sealed_before = await pool.fetchval("SELECT sum(samples) FROM sample_chunks")
    assert 0 < sealed_before < len(samples)
    assert await pool.fetchval("SELECT count(*) FROM samples") == len(samples)
    # Reads merge both places meanwhile: each sample once.
    rows = await read_back(pool, start, end)
    assert len(rows) == len(samples)

    sealer = await roll_up_and_seal(pool)  # the next pass, e.g. in another process
    assert await pool.fetchval("SELECT count(*) FROM samples") == 0
    assert await pool.fetchval("SELECT sum(samples) FROM sample_chunks") == len(samples)
    assert await pool.fetchval("SELECT sum(samples) FROM sealed_day_stats") == len(samples)
    assert sealer.stats.duplicates == 0  # resumed after the last batch committed, not before
    rows = await read_back(pool, start, end)
    names = {r["id"]: r["n"] for r in await pool.fetch("SELECT id, labels->>'n' AS n FROM series")}
    got = {
        (names[sid], t // 1000): v
        for sid, t, v in zip(
            rows.series_ids.tolist(), rows.times_us.tolist(), rows.values.tolist(), strict=True
        )
    }
    assert got == expected


async def test_the_sealing_job_cancelled_mid_copy_stops_and_loses_nothing(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shutdown cancels the job while it reads a partition. asyncpg's rollback of the open
    transaction then fails with InternalClientError rather than CancelledError; the job must
    stop all the same (it used to log "sealing pass failed" and run on, and the server waited
    for it forever on SIGTERM)."""
    end = frontier_for(datetime.now(UTC), FAST.grace)
    start = end - timedelta(hours=2)
    await pool.execute("SELECT hostpulse_ensure_head_partition($1)", start)
    await pool.execute(
        "INSERT INTO series (metric, host, labels) "
        "SELECT 'm', 'cancel-1', jsonb_build_object('n', n::text) FROM generate_series(1, 200) n"
    )
    # 200 series x 3,600 samples, all in one sealing batch: a COPY long enough to cancel.
    await pool.execute(
        "INSERT INTO samples (series_id, time, value) "
        "SELECT s.id, $1::timestamptz + g * interval '2 seconds', g FROM series s, "
        "generate_series(0, 3599) g",
        start,
    )
    # Cancelled once the COPY's rows have begun to stream in.
    streaming = asyncio.Event()
    copy_from_query = asyncpg.Connection.copy_from_query

    async def slowly(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> str:
        output = kwargs.pop("output")

        async def sink(data: bytes) -> None:
            streaming.set()
            await output(data)

        result: str = await copy_from_query(self, query, *args, output=sink, **kwargs)
        return result

    monkeypatch.setattr(asyncpg.Connection, "copy_from_query", slowly)
    sealer = Sealer(pool, SealingSettings(batch_series=10_000, busy_share=1), clock=None)
    job = asyncio.create_task(sealer.seal_forever())
    await asyncio.wait_for(streaming.wait(), 30)
    job.cancel()
    done, _ = await asyncio.wait([job], timeout=10)
    assert done, "the sealing job ran on after it was cancelled"
    assert job.cancelled()

    monkeypatch.undo()
    await roll_up_and_seal(pool)  # the next pass: everything sealed once
    assert await pool.fetchval("SELECT count(*) FROM samples") == 0
    assert await pool.fetchval("SELECT sum(samples) FROM sample_chunks") == 200 * 3_600
