"""Helpers for the sealed-history tests: write through the real writer, seal, read back."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import numpy as np

from backend.model import IngestBatch, Sample
from backend.storage.migrations import MIGRATIONS_DIR, migrate
from backend.storage.rollups import refresh_all_rollups
from backend.storage.sample_merge import Rows
from backend.storage.sealed_reads import history_snapshot, read_merged
from backend.storage.sealing import Sealer, SealingSettings
from backend.storage.writer import SampleWriter

HOUR_MS = 3_600_000
# Sealed partitions are detached right away in tests (the real delay is a minute).
FAST = SealingSettings(detach_delay=0.001, batch_series=3, busy_share=1)


async def write(pool: asyncpg.Pool, samples: list[Sample], batch: int = 2_000) -> SampleWriter:
    """Every sample through a SampleWriter (its rollup marks too); returns the stopped writer."""
    writer = SampleWriter(pool, batch_samples=5_000, flush_interval=0.02, max_queue_samples=10**7)
    await writer.start()
    for start in range(0, len(samples), batch):
        writer.enqueue(IngestBatch("json", samples[start : start + batch]))
    await writer.stop(timeout=120)
    return writer


async def roll_up_and_seal(pool: asyncpg.Pool, sealer: Sealer | None = None) -> Sealer:
    """Rollups brought up to date, then sealing passes until nothing is left to seal or drop."""
    sealer = sealer or Sealer(pool, FAST, clock=None)
    async with pool.acquire() as conn:
        await refresh_all_rollups(conn)
    for _ in range(10):
        report = await sealer.run_pass()
        if not (report.sealed or report.dropped or report.late_rows):
            break
    return sealer


async def read_back(pool: asyncpg.Pool, start_ms: int, end_ms: int) -> Rows:
    async with pool.acquire() as conn, history_snapshot(conn) as horizon:
        merged = await read_merged(conn, horizon, None, start_ms * 1000, end_ms * 1000)
    return merged.rows


async def series_ids(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT id, labels->>'kind' AS kind FROM series")
    return {row["kind"]: row["id"] for row in rows}


def as_pairs(rows: Rows, series_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(times ms, value bits) of one series: bit-for-bit comparable."""
    mine = rows.series_ids == series_id
    return rows.times_us[mine] // 1000, rows.values[mine].view(np.uint64)


async def migrate_up_to(dsn: str, last_version: int, tmp_path: Path) -> Path:
    """Applies the migrations up to `last_version` (a database of an older release); returns
    the directory holding just those."""
    before = tmp_path / "migrations"
    before.mkdir(exist_ok=True)
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:3]) <= last_version:
            shutil.copy(path, before / path.name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, before)
    finally:
        await conn.close()
    return before
