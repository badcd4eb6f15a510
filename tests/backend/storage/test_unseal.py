"""Unsealing for a downgrade: every sample (chunks, head, late rows) back as rows, once, in the
schema of the releases before 041, which then find nothing to migrate; upgrading again reads
the same history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from backend.cli import main
from backend.model import Sample
from backend.storage.migrations import migrate
from backend.storage.sealing import PASS_LOCK_KEY
from backend.storage.unseal import UnsealError, unseal
from tests.backend.storage.sealing_support import (
    HOUR_MS,
    migrate_up_to,
    read_back,
    roll_up_and_seal,
    write,
)
from tests.backend.storage.storage_support import now_ms


def as_dict(
    series_ids: list[int], times_us: list[int], values: np.ndarray
) -> dict[tuple[int, int], int]:
    """(series, time µs) -> the value's bits."""
    bits = values.view(np.uint64).tolist()
    return dict(zip(zip(series_ids, times_us, strict=True), bits, strict=True))


@pytest.mark.slow
async def test_unsealed_history_is_the_old_schema_with_every_sample_once(
    database_url: str, tmp_path: Path
) -> None:
    end = now_ms() - 60_000
    start = end - 30 * HOUR_MS  # two UTC days at least
    rng = np.random.default_rng(5)
    times = range(start, end, 20_000)
    values = rng.normal(0, 1e3, (3, len(times))).tolist()
    samples = [
        Sample("down-1", "m", {"cpu": str(c)}, t, v)
        for c in range(3)
        for t, v in zip(times, values[c], strict=True)
    ]
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool is not None
    try:
        await write(pool, samples)
        await roll_up_and_seal(pool)
        # Late rows for a sealed window (a conflicting value, which wins, and a new sample).
        await write(pool, [Sample("down-1", "m", {"cpu": "0"}, start, 1e9),
                           Sample("down-1", "m", {"cpu": "0"}, start + 1, 2.0)])  # fmt: skip
        assert await pool.fetchval("SELECT count(*) FROM samples_late") == 2
        assert await pool.fetchval("SELECT count(*) FROM sample_chunks") > 0
        assert await pool.fetchval("SELECT count(*) FROM samples") > 0
        before = await read_back(pool, start, end + 1)
        expected = as_dict(before.series_ids.tolist(), before.times_us.tolist(), before.values)
        assert len(expected) == len(samples) + 1

        async with pool.acquire() as other:  # a backend still running: refused, nothing done
            await other.execute("SELECT pg_advisory_lock($1)", PASS_LOCK_KEY)
            with pytest.raises(UnsealError, match="stop every backend"):
                await unseal(pool)
            await other.execute("SELECT pg_advisory_unlock($1)", PASS_LOCK_KEY)

        lines: list[str] = []
        report = await unseal(pool, batch_series=2, say=lines.append)
        assert report.samples == len(expected)
        assert len(lines) == report.days >= 2
    finally:
        await pool.close()

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT series_id, (extract(epoch FROM time) * 1e6)::int8 AS t, value FROM samples"
        )
        got = as_dict([r[0] for r in rows], [r[1] for r in rows],
                      np.array([r[2] for r in rows], np.float64))  # fmt: skip
        assert got == expected  # each sample once, values bit for bit
        for table in ("sample_chunks", "samples_late", "sealing_state", "unseal_progress"):
            assert await conn.fetchval("SELECT to_regclass($1)", table) is None, table
        parts = await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'samples'::regclass"
        )
        assert all(p["relname"].startswith("samples_p") for p in parts)
        assert len(parts) == report.days
        # The older release's migrations find nothing to do, and its partition function works.
        assert await migrate(conn, await migrate_up_to(database_url, 32, tmp_path)) == []
        assert await conn.fetchval("SELECT hostpulse_ensure_samples_partition('2031-01-01')")
        # Upgrading again: the same history, readable and sealable.
        assert await migrate(conn) == ["041_sealed_chunks"]
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool is not None
    try:
        again = await read_back(pool, start, end + 1)
        assert as_dict(again.series_ids.tolist(), again.times_us.tolist(), again.values) == expected
    finally:
        await pool.close()


async def test_the_command_does_nothing_without_yes(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert await asyncio.to_thread(main, ["storage", "unseal"]) == 2
    assert "Stop every backend process, then run it with --yes" in capsys.readouterr().err
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('sample_chunks') IS NOT NULL")
    finally:
        await conn.close()
