"""Storage layer: raw asyncpg COPY vs SampleWriter, and 30-day vs 1-hour history query latency.

Run: `.venv/bin/python bench/backend_storage_bench.py [--reports 10000] [--rounds 3]`
(~3 minutes). It creates a throw-away database on HOSTPULSE_BENCH_PG (default the local
PostgreSQL), migrates it, and drops it at the end.
  1. raw COPY: the rows of N exporter-like reports (a 16-core host with top-5 processes, 60
     samples each) COPYed with `copy_records_to_table` in 5,000-row batches, records prebuilt;
  2. SampleWriter: the same reports enqueued as fast as the queue accepts them, timed until
     everything is written (the periodic rollup job runs meanwhile), then the final rollup refresh;
  3. history: 30 days of 2-second data for one host and metric, rolled up; the 1-hour query
     (raw) and the 30-day query (1h rollups) timed after warm-up: median, p99 and ratio.
Steps 1 and 2 alternate for `--rounds` rounds (the machine is shared); medians are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from backend.model import IngestBatch, Overloaded, ProcessSnapshot, Sample
from backend.storage.history import query_history
from backend.storage.migrations import migrate_database
from backend.storage.postgres import create_pool
from backend.storage.rollups import ms_to_datetime
from backend.storage.series_ids import SeriesIds, series_key
from backend.storage.writer import SampleWriter

ADMIN_DSN = os.environ.get("HOSTPULSE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
HOSTS = 50
REPORT_INTERVAL_MS = 2_000
WINDOW_MS = 2 * 3_600_000  # one head partition per 2-hour window (041_sealed_chunks.sql)
TARGET_RATIO = 0.3
TARGET_SAMPLES_PER_S = 60_000
TARGET_30D_MS = 100.0
TARGET_30D_OVER_1H = 3.0


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def report(host: int, time_ms: int, seq: int) -> IngestBatch:
    """About what the exporter sends for a 16-core host: 60 samples and a top-5 process table."""
    name = f"bench-host-{host:03d}"
    series: list[tuple[str, dict[str, str]]] = [
        ("system_cpu_utilization_ratio", {"cpu.logical_number": str(cpu), "cpu.mode": mode})
        for cpu in range(16)
        for mode in ("user", "system")
    ]
    series += [
        ("system_memory_usage_bytes", {"system.memory.state": state})
        for state in ("used", "free", "buffers", "cached")
    ]
    series += [
        (f"process_{metric}", {"rank": str(rank), "process.executable.name": f"proc{rank}"})
        for rank in range(1, 6)
        for metric in ("cpu_utilization_ratio", "memory_usage_bytes", "thread_count")
    ]
    series += [
        ("system_network_io_bytes_total", {"network.interface.name": nic, "direction": way})
        for nic in ("eth0", "eth1", "lo", "docker0")
        for way in ("receive", "transmit")
    ]
    samples = [
        Sample(name, metric, labels, time_ms, float((seq + i) % 1000))
        for i, (metric, labels) in enumerate(series[:60])
    ]
    processes = [{"pid": 100 + r, "name": f"proc{r}", "cpu": 0.1 * r} for r in range(1, 6)]
    return IngestBatch("json", samples, [ProcessSnapshot(name, time_ms, processes)])


def reports(count: int) -> list[IngestBatch]:
    end = int(time.time() * 1000) - 10_000
    rounds = count // HOSTS + 1
    first = end - rounds * REPORT_INTERVAL_MS
    return [report(i % HOSTS, first + (i // HOSTS) * REPORT_INTERVAL_MS, i) for i in range(count)]


async def reset(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "TRUNCATE samples, rollup_1m, rollup_1h, rollup_pending, process_snapshots, writer_progress"
    )


async def bench_raw_copy(pool: asyncpg.Pool, batches: list[IngestBatch]) -> float:
    series = SeriesIds()
    async with pool.acquire() as conn:
        await series.resolve(conn, (series_key(s) for b in batches for s in b.samples))
        for window in {s.time_ms // WINDOW_MS for b in batches for s in b.samples}:
            await conn.execute(
                "SELECT hostpulse_ensure_head_partition($1)", ms_to_datetime(window * WINDOW_MS)
            )
        rows = [
            (series.ids[series_key(s)], ms_to_datetime(s.time_ms), s.value)
            for b in batches
            for s in b.samples
        ]
        started = time.perf_counter()
        for i in range(0, len(rows), 5_000):
            await conn.copy_records_to_table(
                "samples", records=rows[i : i + 5_000], columns=("series_id", "time", "value")
            )
        return len(rows) / (time.perf_counter() - started)


async def bench_writer(pool: asyncpg.Pool, batches: list[IngestBatch]) -> tuple[float, float, int]:
    writer = SampleWriter(pool, max_queue_samples=200_000, batch_samples=5_000, flush_interval=0.2)
    await writer.start()
    overloaded = 0
    started = time.perf_counter()
    for batch in batches:
        while True:
            try:
                writer.enqueue(batch)
                break
            except Overloaded:
                overloaded += 1
                await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # let the writer task run, as a server's event loop would
    while writer.queue_depth:  # noqa: ASYNC110 - polling the writer's gauge, as /metrics would
        await asyncio.sleep(0.005)
    written = time.perf_counter() - started
    await writer.stop(timeout=300)
    with_refresh = time.perf_counter() - started
    samples = sum(len(b.samples) for b in batches)
    assert writer.written_samples == samples, (writer.written_samples, samples)
    return samples / written, samples / with_refresh, overloaded


async def load_history(pool: asyncpg.Pool, series_count: int) -> tuple[int, int]:
    """30 days of 2-second samples for one host and metric, rolled up as the job would."""
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=30)
    async with pool.acquire() as conn:
        await conn.execute(
            "SELECT hostpulse_ensure_head_partition(t) "
            "FROM generate_series($1::timestamptz, $2::timestamptz, '2 hours') t",
            start,
            end + timedelta(hours=2),
        )
        ids = [
            await conn.fetchval(
                "INSERT INTO series (metric, host, labels) VALUES ('hist_metric', 'hist-host', $1)"
                " RETURNING id",
                f'{{"cpu": "{cpu}"}}',
            )
            for cpu in range(series_count)
        ]
        for series_id in ids:
            await conn.execute(
                "INSERT INTO samples SELECT $1, t, random() "
                "FROM generate_series($2::timestamptz, $3::timestamptz, '2 seconds') t",
                series_id, start, end,
            )  # fmt: skip
        await conn.execute(
            "INSERT INTO rollup_1m SELECT series_id, date_trunc('minute', time), min(value), "
            "max(value), sum(value), count(*) FROM samples WHERE series_id = ANY($1) GROUP BY 1, 2",
            ids,
        )
        await conn.execute(
            "INSERT INTO rollup_1h SELECT series_id, date_trunc('hour', bucket), min(min), "
            "max(max), sum(sum), sum(count) FROM rollup_1m WHERE series_id = ANY($1) GROUP BY 1, 2",
            ids,
        )
        await conn.execute("ANALYZE")
    end_ms = int(end.timestamp() * 1000)
    return end_ms - 30 * 86_400_000, end_ms


async def time_query(pool: asyncpg.Pool, start_ms: int, end_ms: int, runs: int) -> list[float]:
    timings = []
    for i in range(runs + 10):
        began = time.perf_counter()
        result = await query_history(
            pool, host="hist-host", metric="hist_metric", start_ms=start_ms, end_ms=end_ms,
            step_seconds=None,
        )  # fmt: skip
        if i >= 10:  # warm-up: plans cached, pages in memory
            timings.append((time.perf_counter() - began) * 1000)
    points = sum(len(s.points) for s in result.series)
    progress(f"  {result.resolution}, step {result.step_seconds}s, {points} points")
    return timings


def p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--history-series", type=int, default=4)
    parser.add_argument("--query-runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    name = f"hp_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    try:
        await migrate_database(dsn)
        pool = await create_pool(dsn, min_size=2, max_size=4)
        try:
            batches = reports(args.reports)
            samples = sum(len(b.samples) for b in batches)
            progress(f"{len(batches)} reports, {samples} samples, {HOSTS} hosts")
            raws, writers, refreshed, overloaded = [], [], [], 0
            # Alternating rounds: the machine is shared, so load drifts; medians compare fairly.
            for round_ in range(1, args.rounds + 1):
                raws.append(await bench_raw_copy(pool, batches))
                await reset(pool)
                rate, with_refresh, pushed_back = await bench_writer(pool, batches)
                await reset(pool)
                writers.append(rate)
                refreshed.append(with_refresh)
                overloaded += pushed_back
                progress(f"round {round_}: raw COPY {raws[-1]:,.0f}/s, SampleWriter {rate:,.0f}/s")
            raw, writer_rate = statistics.median(raws), statistics.median(writers)
            with_refresh = statistics.median(refreshed)
            # 600,000 live Sample objects would make every full GC pass slow the query timings.
            del batches
            gc.collect()
            progress(f"history: 30 days of 2 s data, {args.history_series} series ...")
            start_ms, end_ms = await load_history(pool, args.history_series)
            hour = await time_query(pool, end_ms - 3_600_000, end_ms, args.query_runs)
            month = await time_query(pool, start_ms, end_ms, args.query_runs)
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    ratio = writer_rate / raw
    h_med, m_med = statistics.median(hour), statistics.median(month)
    print()
    print(f"raw asyncpg COPY        {raw:>10,.0f} samples/s  (median of {args.rounds} rounds)")
    print(f"SampleWriter            {writer_rate:>10,.0f} samples/s  ({writer_rate / 60:,.0f} "
          f"reports/s; {with_refresh:,.0f}/s incl. final rollup refresh; "
          f"{overloaded} Overloaded retries)")  # fmt: skip
    print(f"writer / raw COPY       {ratio:>10.2f}   (target >= {TARGET_RATIO})")
    print(f"1-hour query            median {h_med:6.1f} ms  p99 {p99(hour):6.1f} ms")
    print(f"30-day query            median {m_med:6.1f} ms  p99 {p99(month):6.1f} ms  "
          f"(target <= {TARGET_30D_MS:.0f} ms)")  # fmt: skip
    print(f"30-day / 1-hour         {m_med / h_med:>10.2f}   (target <= {TARGET_30D_OVER_1H})")
    ok = (
        ratio >= TARGET_RATIO
        and writer_rate >= TARGET_SAMPLES_PER_S
        and m_med <= TARGET_30D_MS
        and m_med / h_med <= TARGET_30D_OVER_1H
    )
    print("all targets met" if ok else "some targets missed (see above)")


if __name__ == "__main__":
    asyncio.run(main())
