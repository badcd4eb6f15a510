"""PostgreSQL restarted while the writer is busy: every enqueued sample is stored, exactly once."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.model import Overloaded
from backend.storage.migrations import migrate_database
from backend.storage.postgres import create_pool
from backend.storage.writer import SampleWriter
from tests.backend.storage.storage_support import batch_of, now_ms, sample, wait_until
from tests.conftest import free_port, require_program

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class ThrowawayCluster:
    directory: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.directory),
             *args],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.directory}"
        self.pg_ctl("-l", str(self.directory / "log"), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    require_program("runuser")
    initdb = require_program(str(PG_BIN / "initdb"))
    directory = Path(tempfile.mkdtemp(prefix="hp-pg-restart-"))
    shutil.chown(directory, "postgres", "postgres")
    os.chmod(directory, 0o700)
    subprocess.run(
        ["runuser", "-u", "postgres", "--", initdb, "-D", str(directory), "-U", "postgres",
         "--auth=trust", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    running = ThrowawayCluster(directory, free_port())
    running.start()
    try:
        yield running
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(directory),
             "-m", "immediate", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.slow
async def test_postgres_restart_during_writes_loses_nothing(cluster: ThrowawayCluster) -> None:
    await migrate_database(cluster.dsn)
    pool = await create_pool(cluster.dsn, min_size=1, max_size=2)
    writer = SampleWriter(
        pool, max_queue_samples=2_000, batch_samples=200, flush_interval=0.02,
        retry_initial_seconds=0.05, retry_max_seconds=0.5,
    )  # fmt: skip
    await writer.start()
    enqueued: list[tuple[int, float]] = []
    overloaded = 0
    start = now_ms()

    async def produce(batches: int) -> None:
        nonlocal overloaded
        for b in range(batches):
            batch = [sample(float(b * 20 + i), start + b * 20 + i, labels={"i": str(i % 5)})
                     for i in range(20)]  # fmt: skip
            while True:
                try:
                    writer.enqueue(batch_of(*batch))
                    break
                except Overloaded:
                    overloaded += 1
                    await asyncio.sleep(0.05)
            enqueued.extend((s.time_ms, s.value) for s in batch)
            await asyncio.sleep(0.003)

    try:
        producer = asyncio.create_task(produce(400))
        await wait_until(lambda: writer.written_samples >= 500, what="writes before the restart")
        await asyncio.to_thread(cluster.stop)
        await wait_until(lambda: writer.failed_attempts > 0 and overloaded > 0, what="pushback")
        await asyncio.to_thread(cluster.start)
        await producer
        await writer.stop(timeout=60)

        rows = await pool.fetch(
            "SELECT (extract(epoch FROM time) * 1000)::bigint AS t, value FROM samples"
        )
        rolled_up = await pool.fetchval("SELECT sum(count) FROM rollup_1m")
    finally:
        await writer.stop(timeout=5)
        await pool.close()

    assert len(enqueued) == 8_000
    assert sorted((r["t"], r["value"]) for r in rows) == sorted(enqueued)
    assert rolled_up == len(enqueued)
    assert writer.queue_depth == 0
