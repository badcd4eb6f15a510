"""Sealed history's density and reads, side by side with Prometheus' TSDB on the same samples.

    .venv/bin/python bench/storage_density_bench.py [--hosts 50] [--hours 24] [--history-days 30]

On a throw-away database (HOSTPULSE_BENCH_PG, default the local PostgreSQL), in one run:
1. `--hours` of realistic 2 s reports of `--hosts` 16-core hosts (bench/realistic_host.py: the
   backend bench's report, exporter-like values) go into the head one 2-hour window at a time, by
   binary COPY, as ingest leaves them; each window's partition is measured (today's
   row-per-sample layout: heap + the (series_id, time) index + BRIN), then sealed by the real
   sealing job (its process CPU and PostgreSQL's CPU measured), then detached and dropped;
2. the sealed history's size: every chunk partition with its TOAST and indexes
   (pg_total_relation_size), per sample, with and without the `series` table;
3. the same samples written as OpenMetrics and backfilled with
   `promtool tsdb create-blocks-from openmetrics` into one 24-hour block (--max-block-duration),
   the block directory's size per sample, and the ratio;
4. one more host with `--history-days` of 2 s data for 4 series, rolled up, sealed, with the
   newest window left in the head: history read latencies (median of 30 after warm-up) for one
   hour of raw samples on sealed data and across the head/chunk seam, 30 days through the API's
   plan (1 h rollups + raw tail), and 30 days of raw samples decoded (1.3 M samples).
Progress lines go to stdout; `cat /proc/loadavg` is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from backend_bench import cpu_of_programs
from head_loader import copy_window, register
from realistic_host import INTERVAL_MS, Series, host_series

from backend.storage.chunk_store import us_to_datetime
from backend.storage.history import query_history
from backend.storage.migrations import migrate_database
from backend.storage.postgres import create_pool
from backend.storage.sample_merge import WINDOW_US
from backend.storage.sealed_reads import history_snapshot, read_merged
from backend.storage.sealing import Sealer, SealingSettings

ADMIN_DSN = os.environ.get("HOSTPULSE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
WINDOW_MS = WINDOW_US // 1000
TARGET_BYTES = 4.0


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def seal_all(sealer: Sealer) -> None:
    while True:
        report = await sealer.run_pass()
        if not report.sealed and not report.dropped:
            return


def openmetrics(path: Path, series: list[Series]) -> int:
    """The samples as an OpenMetrics file (families contiguous), exact floats; returns samples."""
    count = 0
    by_metric: dict[str, list[Series]] = {}
    for s in series:
        by_metric.setdefault(s.metric, []).append(s)
    with path.open("w") as out:
        for metric, members in by_metric.items():
            out.write(f"# TYPE {metric} gauge\n")
            for s in members:
                labels = ",".join(f'{k}="{v}"' for k, v in {"host": s.host, **s.labels}.items())
                head = f"{metric}{{{labels}}} "
                seconds = [f"{t // 1000}.{t % 1000:03d}" for t in s.times_ms.tolist()]
                out.write(
                    "".join(
                        f"{head}{v!r} {t}\n"
                        for v, t in zip(s.values.tolist(), seconds, strict=True)
                    )
                )
                count += len(seconds)
        out.write("# EOF\n")
    return count


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


async def time_query(run, repeats: int = 30) -> float:  # type: ignore[no-untyped-def]
    """Median wall ms of `run` after warm-up; the median of this process's CPU ms goes to
    CPU_MS (on a loaded shared machine, wall time is mostly waiting for a core)."""
    for _ in range(5):
        await run()
    timings, cpu = [], []
    for _ in range(repeats):
        began, began_cpu = time.perf_counter(), time.process_time()
        await run()
        timings.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    CPU_MS.append(statistics.median(cpu))
    return statistics.median(timings)


CPU_MS: list[float] = []


async def density(pool: asyncpg.Pool, args: argparse.Namespace, day_ms: int) -> dict[str, float]:
    count = int(args.hours * 3_600_000 / INTERVAL_MS)
    say(f"generating {args.hosts} hosts x {args.hours:g} h of 2 s reports ...")
    series = [s for h in range(args.hosts) for s in host_series(f"bench-host-{h:03d}", day_ms,
                                                                 count, seed=h)]  # fmt: skip
    total = sum(len(s.times_ms) for s in series)
    say(f"  {len(series)} series, {total:,} samples")
    async with pool.acquire() as conn:
        ids = await register(conn, series)
    sealer = Sealer(pool, SealingSettings(detach_delay=0.001, grace=60, busy_share=1), clock=None)
    row_bytes = row_samples = 0
    seal_cpu = pg_cpu = seal_wall = 0.0
    windows = range(day_ms, day_ms + count * INTERVAL_MS + WINDOW_MS, WINDOW_MS)
    for lo in windows:
        async with pool.acquire() as conn:
            rows = await copy_window(conn, series, ids, lo, lo + WINDOW_MS)
            if not rows:
                continue
            await conn.execute("ANALYZE samples")
            name = f"samples_h{us_to_datetime(lo * 1000):%Y%m%d%H}"
            size = await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name)
        row_bytes += size
        row_samples += rows
        # This process does nothing but seal meanwhile: all its CPU (threads, asyncpg) counts.
        cpu0, pg0, wall0 = time.process_time(), cpu_of_programs("postgres"), time.monotonic()
        await seal_all(sealer)
        seal_cpu += time.process_time() - cpu0
        pg_cpu += cpu_of_programs("postgres") - pg0
        seal_wall += time.monotonic() - wall0
        say(f"  window {us_to_datetime(lo * 1000):%H:%M}: {rows:,} rows, {size / rows:.1f} B/row "
            f"in the head; sealed in {time.monotonic() - wall0:.1f} s")  # fmt: skip
    chunk_bytes: int = await pool.fetchval(
        "SELECT sum(pg_total_relation_size(inhrelid))::int8 FROM pg_inherits "
        "WHERE inhparent = 'sample_chunks'::regclass"
    )
    sealed = await pool.fetchval("SELECT sum(samples)::int8 FROM sample_chunks")
    series_bytes = await pool.fetchval("SELECT pg_total_relation_size('series')")
    assert sealed == total, (sealed, total)
    say("writing the same samples as OpenMetrics for promtool ...")
    promtool = shutil.which("promtool")
    prom_bytes = float("nan")
    if promtool is None:
        say("  promtool not installed (apt-get install prometheus): Prometheus not measured")
    else:
        with tempfile.TemporaryDirectory(prefix="hp-density-") as tmp:
            source = Path(tmp) / "samples.om"
            written = openmetrics(source, series)
            assert written == total
            say(f"  {source.stat().st_size / 1e9:.1f} GB; promtool tsdb create-blocks-from "
                "openmetrics --max-block-duration=24h ...")  # fmt: skip
            began = time.monotonic()
            subprocess.run(  # noqa: ASYNC221 - nothing else runs meanwhile
                [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                 "--max-block-duration=24h", str(source), str(Path(tmp) / "tsdb")],
                check=True,
            )  # fmt: skip
            prom_bytes = directory_bytes(Path(tmp) / "tsdb")
            say(f"  promtool took {time.monotonic() - began:.0f} s")
    return {
        "samples": total,
        "rows_bytes_per_sample": row_bytes / row_samples,
        "sealed_bytes_per_sample": chunk_bytes / total,
        "sealed_with_series_bytes_per_sample": (chunk_bytes + series_bytes) / total,
        "prometheus_bytes_per_sample": prom_bytes / total,
        "seal_cpu_us_per_sample": seal_cpu / total * 1e6,
        "seal_pg_cpu_us_per_sample": pg_cpu / total * 1e6,
        "seal_wall_s": seal_wall,
    }


async def reads(pool: asyncpg.Pool, days: int) -> dict[str, float]:
    """30 days of one host's 4 series, rolled up and sealed, the newest window in the head."""
    now_ms = int(time.time() * 1000)
    end_ms = now_ms - 60_000
    start_ms = end_ms - days * 86_400_000
    count = (end_ms - start_ms) // INTERVAL_MS
    say(f"history host: {days} days of 4 series ({4 * count:,} samples) into the head ...")
    series = list(host_series("hist-host", start_ms, count, seed=999))[:4]
    async with pool.acquire() as conn:
        ids = await register(conn, series)
        for lo in range(start_ms - start_ms % WINDOW_MS, end_ms + WINDOW_MS, WINDOW_MS):
            await copy_window(conn, series, ids, lo, lo + WINDOW_MS)
        for table, width, source, cols, t in (
            ("rollup_1m", "1 minute", "samples", "min(value), max(value), sum(value), count(*)",
             "time"),
            ("rollup_1h", "1 hour", "rollup_1m", "min(min), max(max), sum(sum), sum(count)",
             "bucket"),
        ):  # fmt: skip
            await conn.execute(
                f"INSERT INTO {table} SELECT series_id, date_bin('{width}', {t}, 'epoch'), "
                f"{cols} FROM {source} WHERE series_id = ANY($1) GROUP BY 1, 2",
                ids,
            )
    say("  sealing it (the newest window stays in the head) ...")
    await seal_all(Sealer(pool, SealingSettings(detach_delay=0.001, busy_share=1), clock=None))
    await pool.execute("ANALYZE")
    async with pool.acquire() as conn, history_snapshot(conn) as horizon:
        seam_ms = horizon.frontier_us // 1000
    metric, host = series[0].metric, "hist-host"

    def api(lo: int, hi: int):  # type: ignore[no-untyped-def]
        return lambda: query_history(
            pool, host=host, metric=metric, start_ms=lo, end_ms=hi, step_seconds=None
        )

    async def raw_30d() -> None:
        async with pool.acquire() as conn, history_snapshot(conn) as horizon:
            merged = await read_merged(conn, horizon, [ids[0]], start_ms * 1000, end_ms * 1000)
            assert len(merged.rows) >= count - 1

    sealed_hour = seam_ms - 5 * 86_400_000
    figures = {
        "read_1h_sealed_ms": await time_query(api(sealed_hour, sealed_hour + 3_600_000)),
        "read_1h_seam_ms": await time_query(api(seam_ms - 1_800_000, seam_ms + 1_800_000)),
        "read_30d_api_ms": await time_query(api(end_ms - 30 * 86_400_000, end_ms)),
        "read_30d_raw_decode_ms": await time_query(raw_30d, repeats=10),
    }
    for name, cpu_ms in zip(list(figures), CPU_MS, strict=True):
        figures[name.replace("_ms", "_cpu_ms")] = cpu_ms
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument(
        "--reads-only", action="store_true", help="skip the density part: read latencies only"
    )
    args = parser.parse_args()
    name = f"hp_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    say(f"throw-away database {name}; load average {os.getloadavg()}")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # A whole UTC day ending at least two days ago: one Prometheus block, all of it frozen.
    day_ms = int((today - timedelta(days=3)).timestamp() * 1000)
    try:
        await migrate_database(dsn)
        pool = await create_pool(dsn, min_size=2, max_size=4, command_timeout=3600)
        try:
            figures = {} if args.reads_only else await density(pool, args, day_ms)
            figures.update(await reads(pool, args.history_days))
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    f = figures
    if not args.reads_only:
        print_density(f, args, load)
    else:
        print(f"\nsummary (reads only; /proc/loadavg {load})")
    print("  reads: median wall ms (median CPU ms of the bench process, the rest is PostgreSQL")
    print("  and waiting for a core on a loaded machine)")
    print(f"  read 1 h raw, sealed              {f['read_1h_sealed_ms']:8.1f} ms "
          f"({f['read_1h_sealed_cpu_ms']:.1f})  (target <= 20)")  # fmt: skip
    print(f"  read 1 h raw, across the seam     {f['read_1h_seam_ms']:8.1f} ms "
          f"({f['read_1h_seam_cpu_ms']:.1f})  (target <= 20)")  # fmt: skip
    print(
        f"  read 30 d (API: 1 h rollups)      {f['read_30d_api_ms']:8.1f} ms "
        f"({f['read_30d_api_cpu_ms']:.1f})  (target <= 100; "
        f"{f['read_30d_api_ms'] / f['read_1h_sealed_ms']:.2f}x the sealed 1 h, target <= 3)"
    )
    print(f"  read 30 d raw, decoded (1.3 M)    {f['read_30d_raw_decode_ms']:8.1f} ms "
          f"({f['read_30d_raw_decode_cpu_ms']:.1f})")  # fmt: skip


def print_density(f: dict[str, float], args: argparse.Namespace, load: str) -> None:
    print(f"\nsummary ({f['samples']:,.0f} samples of {args.hosts} hosts x {args.hours:g} h; "
          f"/proc/loadavg {load})")  # fmt: skip
    rows, sealed, prom = (
        f["rows_bytes_per_sample"], f["sealed_bytes_per_sample"], f["prometheus_bytes_per_sample"]
    )  # fmt: skip
    print(f"  row per sample (today's layout)   {rows:8.2f} B/sample")
    print(f"  sealed chunks                     {sealed:8.2f} B/sample  "
          f"(target <= {TARGET_BYTES}); {rows / sealed:.1f}x smaller than rows")  # fmt: skip
    print(f"  sealed chunks + series table      {f['sealed_with_series_bytes_per_sample']:8.2f} "
          "B/sample")  # fmt: skip
    print(f"  Prometheus TSDB block (promtool)  {prom:8.2f} B/sample  "
          f"(sealed / Prometheus = {sealed / prom:.2f})")  # fmt: skip
    print(f"  sealing CPU: backend {f['seal_cpu_us_per_sample']:.3f} us/sample + PostgreSQL "
          f"{f['seal_pg_cpu_us_per_sample']:.3f} us/sample; at 60,000 samples/s (1,000 reports/s) "
          f"that is {(f['seal_cpu_us_per_sample'] + f['seal_pg_cpu_us_per_sample']) * 6:.1f} % "
          "of one core (target <= 10 %)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
