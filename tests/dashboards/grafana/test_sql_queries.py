"""Every SQL query of the PostgreSQL dashboards, with Grafana's macros and variables expanded as
Grafana's PostgreSQL datasource does (grafana_macros.py; no Grafana server can run here), runs on
a real PostgreSQL AS the read-only role `hostpulse_grafana`, over 1 hour, 6 hours and 30 days.

The data is written by the backend: a real `hostpulse-exporter --once` report (every metric and
process column the agent sends) is posted to the served app at times spread over 29 days, two
hosts, then rolled up and sealed by the backend's own jobs, so the queries read head rows, sealed
history (through the rollups) and both rollup tables. An alert rule posted through the API fires,
so the alert panels have state and transitions.

Time-series panels must return rows with a `time` column; every panel must return rows, except
those in EMPTY_BECAUSE (with the reason). Speed at 30 days is measured by
bench/grafana_sql_bench.py, not here; this test checks that a 30-day range reads hourly buckets."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from backend.storage.rollups import refresh_all_rollups
from backend.storage.sealing import Sealer, SealingSettings
from tests.backend.running import AUTH, RunningBackend, iso, serve, service_settings, wait_for
from tests.dashboards.grafana.dashboard_files import Query, dashboards, queries, variables
from tests.dashboards.grafana.grafana_macros import ALL, TimeRange, Variable, expand_sql

pytestmark = pytest.mark.slow

HOSTS = ("sql-alpha", "sql-beta")
ROLE = "hostpulse_grafana"
RULE = {
    "name": "GrafanaSqlTest",
    "metric": "system_memory_utilization_ratio",
    "op": ">",
    "threshold": 0.0,
    "for": "0s",
    "labels": {"severity": "page"},
    "annotations": {"summary": "memory {{ $value }} on {{ $labels.host }}"},
}
RANGES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "30d": timedelta(days=30)}
# (dashboard uid, panel title, refId) → why it may return no rows.
EMPTY_BECAUSE: dict[tuple[str, str, str], str] = {}
# Panels drawn as time series in Grafana: their frames need a `time` column.
TIME_SERIES_PANELS = {"timeseries", "stat"}

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def report_times(now_ms: int) -> list[int]:
    """Dense where short ranges look, sparse further back: every 30 s over the last 3 hours
    (the sealing frontier lies in them), every 10 minutes up to a day, every 6 hours up to 29
    days (ingest takes up to 30)."""
    recent = [now_ms - i * 30_000 for i in range(1, 360)]
    day = [now_ms - 3 * HOUR - i * 10 * MINUTE for i in range(1, 127)]
    month = [now_ms - DAY - i * 6 * HOUR for i in range(1, 113)]
    return sorted(recent + day + month)


async def exporter_report() -> dict[str, Any]:
    """One report as the real agent sends it (`hostpulse-exporter --once`)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exporter.cli",
        "--once",
        "--host-name",
        "template",
        "--log-level",
        "error",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    document: dict[str, Any] = json.loads(out)
    report: dict[str, Any] = document["reports"][0]
    return report


def report_at(template: dict[str, Any], host: str, seq: int, time_ms: int) -> dict[str, Any]:
    """The template report for `host` at `time_ms`; counters grow with `seq` so rates exist."""
    metrics = []
    for metric in template["metrics"]:
        grow = metric["type"] == "counter"
        points = [
            {**p, "value": p["value"] + seq * 1000.0 if grow else p["value"]}
            for p in metric["points"]
        ]
        metrics.append({**metric, "points": points})
    return {
        **template,
        "seq": seq,
        "timestamp": iso(time_ms),
        "host": {"name": host, "id": f"{host}-id"},
        "metrics": metrics,
    }


async def post_history(backend: RunningBackend, template: dict[str, Any], now_ms: int) -> int:
    """Every host's reports through POST /ingest/metrics; returns the number of reports."""
    times = report_times(now_ms)
    for host in HOSTS:
        reports = [report_at(template, host, seq, t) for seq, t in enumerate(times, start=1)]
        for start in range(0, len(reports), 50):
            document = {
                "schema_version": 1,
                "agent": {"name": "hostpulse-exporter", "version": "test", "instance_id": host},
                "reports": reports[start : start + 50],
            }
            answer = await backend.client.post("/ingest/metrics", json=document, headers=AUTH)
            assert answer.is_success, answer.text
    return len(times) * len(HOSTS)


@dataclass(frozen=True)
class History:
    dsn: str
    end: datetime


async def fire_alert(backend: RunningBackend, pool: asyncpg.Pool) -> None:
    created = await backend.client.post("/api/alert-rules", json=RULE)
    assert created.status_code == 201, created.text
    seq = itertools.count(10_000)

    async def firing() -> bool:
        # Rules reload every evaluation tick: report until the new rule has fired.
        template = {"timestamp": iso(int(datetime.now(UTC).timestamp() * 1000))}
        report = {
            **template,
            "seq": next(seq),
            "host": {"name": HOSTS[0], "id": f"{HOSTS[0]}-id"},
            "metrics": [
                {
                    "name": "system.memory.utilization",
                    "unit": "1",
                    "type": "gauge",
                    "points": [{"attributes": {}, "value": 0.5}],
                }
            ],
            "processes": [],
            "collectors": [],
        }
        document = {
            "schema_version": 1,
            "agent": {"name": "hostpulse-exporter", "version": "test", "instance_id": "alerts"},
            "reports": [report],
        }
        answer = await backend.client.post("/ingest/metrics", json=document, headers=AUTH)
        assert answer.is_success, answer.text
        count = await pool.fetchval(
            "SELECT count(*) FROM alert_transitions WHERE rule = $1 AND to_state = 'firing'",
            RULE["name"],
        )
        return bool(count)

    await wait_for(firing, within=60, what="the test rule to fire")


@pytest.fixture
async def history(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> History:
    """A database holding two hosts' 29 days, written by the served backend, rolled up and
    sealed (the backend's own sealing and retention jobs are off so the test decides when)."""
    template = await exporter_report()
    settings = service_settings(
        database_url,
        redis_url,
        redis_prefix,
        sealing={"enabled": False},
        # Raw history kept 30 days (an operator's choice), so ingest accepts 29-day-old reports.
        retention={"enabled": False, "raw_samples": 30 * 86400.0},
    )
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool is not None
    try:
        async with serve(settings) as backend:
            reports = await post_history(backend, template, now_ms)
            expected = reports * sum(len(m["points"]) for m in template["metrics"])

            async def stored() -> bool:
                count = await pool.fetchval(
                    "SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM samples_late)"
                )
                return bool(count >= expected)

            await wait_for(stored, within=120, what=f"{expected} samples in PostgreSQL")
            await fire_alert(backend, pool)
        async with pool.acquire() as conn:
            await refresh_all_rollups(conn)
        sealer = Sealer(pool, SealingSettings(detach_delay=0.001, busy_share=1), clock=None)
        for _ in range(20):
            report = await sealer.run_pass()
            if not (report.sealed or report.dropped or report.late_rows):
                break
        assert await pool.fetchval("SELECT count(*) FROM sample_chunks") > 0, "nothing sealed"
        assert await pool.fetchval("SELECT count(*) FROM samples") > 0, "no head rows left"
    finally:
        await pool.close()
    return History(database_url, now + timedelta(seconds=30))


async def as_grafana(conn: asyncpg.Connection, sql: str) -> list[asyncpg.Record]:
    """`sql` run as the read-only role, as Grafana's connection would (one transaction)."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {ROLE}")
        return list(await conn.fetch(sql))


async def variable_options(conn: asyncpg.Connection, dashboard: dict[str, Any]) -> list[Variable]:
    """Each query variable as its SQL returns it, with All chosen."""
    found = []
    for variable in variables(dashboard):
        if variable["type"] != "query":
            continue
        rows = await as_grafana(conn, variable["definition"])
        options = [str(r[0]) for r in rows]
        assert options, f"{dashboard['uid']}: variable {variable['name']} lists nothing"
        found.append(Variable(variable["name"], [ALL], options, all_value=variable.get("allValue")))
    return found


def choices(options: list[Variable]) -> dict[str, list[Variable]]:
    """All; one host; and nothing ticked (Grafana then sends an empty list)."""
    one = [
        Variable(v.name, [v.options[0]] if v.name == "host" else [ALL], v.options, v.multi)
        for v in options
    ]
    none = [Variable(v.name, [] if v.name == "host" else [ALL], v.options) for v in options]
    return {"all": options, "one host": one, "no host": none}


def check_result(query: Query, rows: list[asyncpg.Record], must_have_rows: bool) -> str | None:
    key = (query.dashboard, query.panel, query.ref_id)
    drawn_over_time = not query.table and query.panel_type in TIME_SERIES_PANELS
    if drawn_over_time and rows and "time" not in rows[0]:
        return f"{key}: a time series without a `time` column: {list(rows[0].keys())}"
    if must_have_rows and not rows and key not in EMPTY_BECAUSE:
        return f"{key}: no rows"
    return None


async def test_every_sql_query_runs_as_the_grafana_role_over_1h_6h_and_30d(
    history: History,
) -> None:
    conn = await asyncpg.connect(history.dsn)
    problems: list[str] = []
    try:
        for dashboard in dashboards().values():
            if any(v["name"] == "datasource" for v in variables(dashboard)):
                continue  # a Prometheus dashboard: test_promql_queries.py
            options = await variable_options(conn, dashboard)
            hosts = next(v for v in options if v.name == "host").options
            assert set(HOSTS) <= set(hosts), hosts
            for (range_name, span), (choice, chosen) in itertools.product(
                RANGES.items(), choices(options).items()
            ):
                window = TimeRange(history.end - span, history.end, 1000, 1)
                for query in queries(dashboard):
                    sql = expand_sql(query.text, chosen, window)
                    try:
                        rows = await as_grafana(conn, sql)
                    except asyncpg.PostgresError as error:
                        problems.append(f"{query.panel}/{query.ref_id} [{range_name}, {choice}]: "
                                        f"{type(error).__name__}: {error}\n{sql}")  # fmt: skip
                        continue
                    problem = check_result(query, rows, must_have_rows=choice != "no host")
                    if problem:
                        problems.append(f"[{range_name}, {choice}] {problem}\n{sql}")
                    if choice == "no host" and not query.table and rows:
                        problems.append(f"[{range_name}] {query.panel}: rows with no host ticked")
    finally:
        await conn.close()
    assert not problems, "\n\n".join(problems)


async def test_ranges_read_raw_rows_minute_or_hourly_rollups(history: History) -> None:
    """30 days read hourly buckets (≤ 721 points a series: fast, see the bench); 6 hours the
    1-minute rollups; 1 hour raw samples, including those in the head."""
    conn = await asyncpg.connect(history.dsn)
    try:

        async def points(
            span: timedelta, end: datetime = history.end
        ) -> tuple[str, list[datetime]]:
            window = TimeRange(end - span, end)
            sql = expand_sql(
                "SELECT grafana.resolution($__timeFrom(), $__timeTo()) AS r, array_agg(time) AS t\n"
                "FROM grafana.metric_values(ARRAY[$host]::text[], 'system_uptime_seconds', "
                "$__timeFrom(), $__timeTo())",
                [Variable("host", [HOSTS[0]], HOSTS)],
                window,
            )
            [row] = await as_grafana(conn, sql)
            return row["r"], sorted(row["t"])

        resolution, times = await points(RANGES["30d"])
        assert resolution == "1h"
        assert 100 < len(times) <= 721
        assert all(t.minute == 0 and t.second == 0 for t in times)
        resolution, times = await points(RANGES["6h"])
        assert resolution == "1m"
        assert all(t.second == 0 for t in times)
        # An hour across the merge horizon (10 minutes to 2 h 10 min ago, by the clock): head
        # rows as reported (every 30 s, at the reports' own milliseconds) above it, the sealed
        # minutes as 1-minute averages below it.
        horizon = await conn.fetchval("SELECT greatest(frontier, legacy_until) FROM sealing_state")
        resolution, times = await points(RANGES["1h"], horizon + timedelta(minutes=30))
        assert resolution == "raw"
        head = [t for t in times if t.second != 0 or t.microsecond != 0]
        sealed = [t for t in times if t not in head]
        assert len(head) >= 10
        assert len(sealed) >= 20
        assert max(sealed) < horizon <= min(head)
    finally:
        await conn.close()


async def test_the_grafana_role_reads_only_its_schema(database_url: str) -> None:
    """No login, no password, and no access to users, sessions, tokens or webhook secrets —
    directly or through the schema's views."""
    conn = await asyncpg.connect(database_url)
    try:
        role = await conn.fetchrow(
            "SELECT rolcanlogin, rolpassword IS NULL AS no_password, rolsuper, rolcreaterole, "
            "rolcreatedb, rolbypassrls FROM pg_authid WHERE rolname = $1",
            ROLE,
        )
        assert role is not None
        assert dict(role) == {
            "rolcanlogin": False,
            "no_password": True,
            "rolsuper": False,
            "rolcreaterole": False,
            "rolcreatedb": False,
            "rolbypassrls": False,
        }
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        secret_words = ("user", "session", "token", "webhook", "notification")
        secret_tables = [t for t in tables if any(word in t for word in secret_words)]
        assert {"users", "user_sessions", "agent_tokens", "webhooks"} <= set(secret_tables), tables
        for table in tables:  # no table at all, secret or not: only the views
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await as_grafana(conn, f'SELECT 1 FROM public."{table}" LIMIT 1')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_grafana(conn, "DELETE FROM grafana.alert_rules")  # an updatable view
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_grafana(conn, "CREATE TABLE grafana.mine (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_grafana(conn, "CREATE TABLE public.mine (x int)")
        # What the views expose: no column of a secret table, and no view over one.
        exposed = await conn.fetch(
            "SELECT DISTINCT d.refobjid::regclass::text AS source FROM pg_depend d "
            "JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class v ON v.oid = w.ev_class "
            "JOIN pg_namespace n ON n.oid = v.relnamespace "
            "WHERE n.nspname = 'grafana' AND d.refobjid <> v.oid "
            "AND d.classid = 'pg_rewrite'::regclass"
        )
        sources = {r["source"] for r in exposed}
        assert sources, "the grafana views read nothing?"
        assert not sources & set(secret_tables), sources
    finally:
        await conn.close()
