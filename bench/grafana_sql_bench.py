"""Every SQL query of the PostgreSQL Grafana dashboards, timed at 30 days on a fleet's volume.

    .venv/bin/python bench/grafana_sql_bench.py [--hosts 20] [--runs 7] [--head-hours 1]

On a throw-away database (HOSTPULSE_BENCH_PG, default the local PostgreSQL; dropped at the end):
- `--hosts` hosts, each with every series a real agent reports (`hostpulse-exporter --once` on
  this machine, translated by the backend's JSON ingest: per-core CPU times, modes, memory,
  disks, interfaces, top processes...);
- 30 days of hourly rollups of every series, `--minute-days` (default 1) of 1-minute rollups,
  `--head-hours` of raw samples every 10 s in the head, process snapshots every 5 minutes for
  7 days plus every 10 s over the last hour, 30 days of alert transitions (~700 a day) and
  current alert state for every host;
- then each panel's query, macros expanded as Grafana expands them (the tests' grafana_macros.py)
  with every variable as the dashboard opens (All where it has All: the alerts dashboard; the
  first `--select` hosts, default 1, in the host history dashboard, which has no All), run AS
  `hostpulse_grafana` (SET ROLE): one warm-up, then the median of `--runs` runs, for 30 days
  (the target), 6 hours and 1 hour.

All runs share one session, as Grafana's pooled connections do: a query whose plan PostgreSQL
swaps for a generic one after five runs shows it here (048_grafana_read_speed.sql fixed one such
case: 6-hour panels went from ~1 ms to ~400 ms). 049_grafana_reads_by_series.sql fixed 1-hour
panels that hashed every head row of the hour (250-470 ms at 20 hosts, growing with the fleet).

A 30-day panel never reads 1-minute rollups or raw samples (grafana.resolution picks the hourly
ones), so their smaller volume here changes no 30-day figure. Prints each panel's median ms and
rows, the slowest 30-day panel against the 100 ms target (ratio slowest / 100 ms), and
`/proc/loadavg`: on the shared 2-core machine figures vary with the load. Exit status 0 when the
slowest 30-day panel is under the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.ingest.json_report import translate_document  # noqa: E402
from backend.ingest.limits import IngestLimits  # noqa: E402
from backend.storage.migrations import migrate_database  # noqa: E402
from tests.dashboards.grafana.dashboard_files import dashboards, queries, variables  # noqa: E402
from tests.dashboards.grafana.grafana_macros import ALL, TimeRange, Variable, expand_sql  # noqa: E402

ADMIN_DSN = os.environ.get("HOSTPULSE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ROLE = "hostpulse_grafana"
TARGET_MS = 100.0
RANGES = {"30d": timedelta(days=30), "6h": timedelta(hours=6), "1h": timedelta(hours=1)}


def agent_report() -> dict[str, Any]:
    """What this machine's agent sends, as one report of a batch."""
    out = subprocess.run(
        [sys.executable, "-m", "exporter.cli", "--once", "--host-name", "bench", "--log-level",
         "error"],
        check=True, capture_output=True, cwd=ROOT, timeout=120,
    ).stdout  # fmt: skip
    document: dict[str, Any] = json.loads(out)
    return document


async def load(conn: asyncpg.Connection, args: argparse.Namespace, end: datetime) -> int:
    """Writes the fleet's history; returns the number of series."""
    now_ms = int(end.timestamp() * 1000)
    document = agent_report()
    document["reports"][0]["timestamp"] = end.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    (report,) = translate_document(document, now_ms=now_ms, limits=IngestLimits())
    keys = [(s.name, json.dumps(dict(s.labels))) for s in report.samples]
    processes = json.dumps(list(report.snapshot.processes) if report.snapshot else [])
    hosts = [f"bench-{i:04d}" for i in range(args.hosts)]
    await conn.execute(
        "INSERT INTO series (metric, host, labels) "
        "SELECT k.metric, h, k.labels::jsonb FROM unnest($1::text[]) h, "
        "unnest($2::text[], $3::text[]) AS k(metric, labels)",
        hosts,
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    # Gauges wander between 0 and their scale; counters (…_total) grow ~1,000 per second.
    value = (
        "CASE WHEN s.metric LIKE '%\\_total' THEN extract(epoch FROM b) * 1000 + s.id "
        "ELSE (0.5 + 0.4 * sin(extract(epoch FROM b) / 7200 + s.id)) "
        "* CASE WHEN s.metric LIKE '%ratio' THEN 1 ELSE 1e9 END END"
    )
    for table, step, span, count in (
        ("rollup_1h", "1 hour", timedelta(days=30, hours=1), 1800),
        ("rollup_1m", "1 minute", timedelta(days=args.minute_days), 30),
    ):
        started = time.perf_counter()
        await conn.execute(
            f"INSERT INTO {table} (series_id, bucket, min, max, sum, count) "
            f"SELECT s.id, b, v, v, v * {count}, {count} FROM series s, "
            f"generate_series(date_trunc('hour', $1::timestamptz), $2, '{step}') b, "
            f"LATERAL (SELECT {value} AS v) x",
            end - span,
            end,
        )
        print(f"  {table}: {time.perf_counter() - started:.1f} s", flush=True)
    if args.head_hours > 0:
        start = end - timedelta(hours=args.head_hours)
        await conn.execute(
            "SELECT hostpulse_ensure_head_partition(t) "
            "FROM generate_series($1::timestamptz, $2::timestamptz, '1 hour') t",
            start,
            end + timedelta(hours=2),
        )
        await conn.execute("UPDATE sealing_state SET frontier = $1", start - timedelta(hours=2))
        await conn.execute(
            f"INSERT INTO samples (series_id, time, value) SELECT s.id, b, {value} "
            "FROM series s, generate_series($1::timestamptz, $2, '10 seconds') b",
            start,
            end,
        )
    await conn.execute(
        "INSERT INTO process_snapshots (host, time, processes) "
        "SELECT h, t, $3::jsonb FROM unnest($4::text[]) h, ("
        "  SELECT generate_series($1::timestamptz - interval '7 days', $1 - interval '1 hour', "
        "                         '5 minutes') t"
        "  UNION ALL SELECT generate_series($1 - interval '1 hour', $2, '10 seconds')) times",
        end,
        end,
        processes,
        hosts,
    )
    rules = ["HighCpu", "HighMemory", "ManyOpenFileHandles", "AgentStale"]
    await conn.execute(
        "INSERT INTO alert_rules (name, kind, metric, op, labels, source) "
        "SELECT r, 'threshold', 'system_cpu_utilization_ratio', '>', "
        "'{\"severity\": \"warning\"}', 'defaults' FROM unnest($1::text[]) r",
        rules,
    )
    await conn.execute(
        "INSERT INTO alert_transitions (rule, labels, host, severity, from_state, to_state, "
        "value, at, starts_at, reason) "
        "SELECT r, jsonb_build_object('host', h, 'severity', 'warning'), h, 'warning', "
        "CASE WHEN i % 2 = 0 THEN 'pending' ELSE 'firing' END, "
        "CASE WHEN i % 2 = 0 THEN 'firing' ELSE 'inactive' END, 0.95, at, at, '' "
        "FROM generate_series(1, $3 * 30) i, "
        "LATERAL (SELECT ($4::text[])[1 + i % $5] AS h, ($6::text[])[1 + i % 4] AS r, "
        "         $1::timestamptz - (i * (interval '30 days' / ($3 * 30))) AS at) x "
        "WHERE at > $2",
        end,
        end - timedelta(days=30),
        args.transitions_per_day,
        hosts,
        len(hosts),
        rules,
    )
    await conn.execute(
        "INSERT INTO alert_state (rule, labels, state, active_since_ms, fired_at_ms, last_value, "
        "last_seen_ms) SELECT r, jsonb_build_object('host', h, 'severity', 'warning'), "
        "CASE WHEN r = 'HighCpu' THEN 'firing' ELSE 'inactive' END, $1, $1, 0.5, $1 "
        "FROM unnest($2::text[]) h, unnest($3::text[]) r",
        now_ms - 600_000,
        hosts,
        rules,
    )
    # What autovacuum does to settled history: statistics, and all-visible pages (index-only
    # scans of the hourly rollups, 048_grafana_read_speed.sql).
    await conn.execute("VACUUM ANALYZE")
    return len(keys) * len(hosts)


async def as_grafana(conn: asyncpg.Connection, sql: str) -> list[asyncpg.Record]:
    async with conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {ROLE}")
        return list(await conn.fetch(sql))


async def time_panels(
    conn: asyncpg.Connection, end: datetime, runs: int, select: int
) -> list[tuple[str, str, str, float, int]]:
    """(range, dashboard, panel/refId, median ms, rows) for every SQL query, each variable as
    the dashboard opens: All where it offers All, else the first `select` values ticked."""
    results = []
    for dashboard in dashboards().values():
        if any(v["name"] == "datasource" for v in variables(dashboard)):
            continue  # a Prometheus dashboard
        chosen = []
        for variable in variables(dashboard):
            if variable["type"] == "query":
                options = [str(r[0]) for r in await as_grafana(conn, variable["definition"])]
                ticked = [ALL] if variable.get("includeAll") else options[:select]
                chosen.append(Variable(variable["name"], ticked, options))
        for range_name, span in RANGES.items():
            window = TimeRange(end - span, end)
            for query in queries(dashboard):
                sql = expand_sql(query.text, chosen, window)
                rows = len(await as_grafana(conn, sql))  # warm-up
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    await as_grafana(conn, sql)
                    times.append((time.perf_counter() - started) * 1000)
                name = f"{query.panel}/{query.ref_id}"
                results.append((range_name, dashboard["uid"], name, statistics.median(times), rows))
    return results


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20, help="hosts in the fleet (default 20)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (default 7)")
    parser.add_argument("--minute-days", type=int, default=1, help="days of 1-minute rollups")
    parser.add_argument("--head-hours", type=int, default=1, help="hours of raw head samples")
    parser.add_argument("--transitions-per-day", type=int, default=700)
    parser.add_argument(
        "--select",
        type=int,
        default=1,
        help="hosts ticked in the host history dashboard, which has no All (default 1)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database (to EXPLAIN)")
    args = parser.parse_args()
    name = f"hp_bench_grafana_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    try:
        await migrate_database(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            end = datetime.now(UTC).replace(microsecond=0)
            print(f"loading {args.hosts} hosts' history into {name} ...", flush=True)
            series = await load(conn, args, end)
            sizes = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM rollup_1h) AS h, (SELECT count(*) FROM rollup_1m) "
                "AS m, (SELECT count(*) FROM samples) AS raw, "
                "(SELECT count(*) FROM process_snapshots) AS snapshots, "
                "(SELECT count(*) FROM alert_transitions) AS transitions"
            )
            assert sizes is not None
            print(
                f"{series:,} series; rows: rollup_1h {sizes['h']:,}, rollup_1m {sizes['m']:,}, "
                f"raw samples {sizes['raw']:,}, process snapshots {sizes['snapshots']:,}, "
                f"alert transitions {sizes['transitions']:,}"
            )
            results = await time_panels(conn, end, args.runs, args.select)
        finally:
            await conn.close()
    finally:
        if args.keep:
            print(f'kept database {name}: DROP DATABASE "{name}" when done')
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(f"\n{'range':>5}  {'median ms':>9}  {'rows':>7}  dashboard / panel")
    for range_name, uid, panel, ms, rows in results:
        print(f"{range_name:>5}  {ms:9.1f}  {rows:7,}  {uid} / {panel}")
    month = [r for r in results if r[0] == "30d"]
    slowest = max(month, key=lambda r: r[3])
    load_average = os.getloadavg()
    print(
        f"\nslowest 30-day panel: {slowest[3]:.1f} ms ({slowest[1]} / {slowest[2]}), "
        f"target < {TARGET_MS:.0f} ms: ratio {slowest[3] / TARGET_MS:.2f} "
        f"({'PASS' if slowest[3] < TARGET_MS else 'FAIL'}); {args.hosts} hosts, {args.select} "
        f"ticked in the history dashboard (the alerts dashboard: All); "
        f"load average {load_average[0]:.2f} {load_average[1]:.2f} {load_average[2]:.2f}"
    )
    return 0 if slowest[3] < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
