"""HostPulse backend benchmark: one command, one uvicorn worker, a throw-away database.

    .venv/bin/python bench/backend_bench.py [--rate 1000] [--seconds 10] [--repeat 3]
        [--hosts 50] [--watchers 0] [--ws-clients 200] [--phases ingest,ws,history]
        [--sealing-backlog 4]
    .venv/bin/python bench/backend_bench.py --layouts [--seconds 10] [--layout-start 400]

Measures, in one run: sustained agent-report ingest (60-sample reports of a 16-core host with
top-5 processes) with p50/p99 latency, the backend worker's CPU time per report (the figure
other load on the machine disturbs least) and a lost-sample check; ingest's capacity (offered
more than it takes) against raw asyncpg COPY rows/s of the same rows, and the ratio; WebSocket
delivery latency from "POST accepted" to client receipt with N clients; 30-day vs 1-hour history
query latency. Load generators run in separate processes; each run also prints the CPU the load
generator, PostgreSQL and Redis used beside the worker. With a sealing backlog (hours of frozen
reports in the head before the server starts), the worker's sealing job seals it during the
ingest runs, and its CPU share is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import uvloop

ADMIN_DSN = os.environ.get("HOSTPULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HOSTPULSE_TEST_REDIS", "redis://127.0.0.1:6379/0")
TOKEN = "hp_bench-token"
HIST_HOST, HIST_METRIC = "hist-1", "system_cpu_utilization_ratio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stat(pid: int | str) -> tuple[str, float, float]:
    """A process's command name, user + system CPU seconds so far, and those of its children
    it has reaped (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
        name, _, rest = stat.read().partition("(")[2].rpartition(")")
    fields = [int(field) for field in rest.split()[11:15]]
    tick = os.sysconf("SC_CLK_TCK")
    return name, (fields[0] + fields[1]) / tick, (fields[2] + fields[3]) / tick


def cpu_seconds(pid: int) -> float:
    return _stat(pid)[1]


def cpu_of_programs(*names: str) -> float:
    """CPU seconds used so far by every running process whose command name is one of `names`,
    with their exited children's: PostgreSQL's backends and autovacuum workers come and go, and
    a sum of the live ones alone drops when one exits."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            name, seconds, children = _stat(entry)
        except OSError:  # gone meanwhile
            continue
        if name in names:
            total += seconds + children
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy so far (/proc/stat: everything but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- the agent's report -------------------------------------------------------------------------


def _each(key: str, values: list[str], **fixed: str) -> list[dict[str, str]]:
    return [{**{k.replace("_", "."): v for k, v in fixed.items()}, key: v} for v in values]


_PROCS = [(str(1000 + rank), f"proc-{rank}") for rank in range(1, 6)]
_PER_PROC = [{"process.pid": pid, "process.executable.name": name} for pid, name in _PROCS]
_RW, _RT, _CORES = ["read", "write"], ["receive", "transmit"], [str(c) for c in range(16)]
_NONE: list[dict[str, str]] = [{}]
# (OTel name, unit, kind, one attribute set per point): 60 samples, like a 16-core host's report.
# fmt: off
_METRICS: list[tuple[str, str, str, list[dict[str, str]]]] = [
    ("system.cpu.utilization", "1", "gauge", _each("cpu.logical_number", _CORES)),
    ("system.cpu.logical.count", "{cpu}", "gauge", [{}]),
    ("system.memory.usage", "By", "updowncounter",
     _each("system.memory.state", ["used", "free", "buffers", "cached"])),
    ("system.memory.utilization", "1", "gauge", [{}]),
    ("system.memory.limit", "By", "updowncounter", [{}]),
    ("system.paging.usage", "By", "updowncounter", _each("system.paging.state", ["used", "free"])),
    ("system.disk.io", "By", "counter", _each("disk.io.direction", _RW, system_device="sda")),
    ("system.disk.operations", "{operation}", "counter",
     _each("disk.io.direction", _RW, system_device="sda")),
    ("system.network.io", "By", "counter",
     _each("network.io.direction", _RT, network_interface_name="eth0")),
    ("system.network.packet.count", "{packet}", "counter",
     _each("network.io.direction", _RT, network_interface_name="eth0")),
    ("system.process.count", "{process}", "updowncounter",
     _each("process.state", ["running", "sleeping", "blocked"])),
    ("system.uptime", "s", "gauge", [{}]),
    *[(f"system.linux.cpu.load_{m}", "{thread}", "gauge", _NONE) for m in ("1m", "5m", "15m")],
    ("process.cpu.utilization", "1", "gauge", _PER_PROC),
    ("process.memory.usage", "By", "updowncounter", _PER_PROC),
    ("process.memory.virtual", "By", "updowncounter", _PER_PROC),
    ("process.thread.count", "{thread}", "updowncounter", _PER_PROC),
]
# fmt: on


def report_body(host: str, instance: str, seq: int, time_ms: int) -> bytes:
    """One agent batch (schema v1): a 16-core host with its top-5 processes."""
    ts = datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    value = float(seq % 100)
    metrics = [
        {
            "name": n,
            "unit": u,
            "type": k,
            "points": [{"attributes": a, "value": value} for a in attrs],
        }
        for n, u, k, attrs in _METRICS
    ]
    procs = _PROCS
    processes = [
        {
            "rank": r,
            "pid": int(p),
            "name": n,
            "cpu_utilization": 0.05,
            "memory_rss_bytes": 10**8,
            "memory_virtual_bytes": 10**9,
            "threads": 8,
            "disk_read_bytes": 0,
            "disk_write_bytes": 0,
            "open_fds": 20,
        }
        for r, (p, n) in enumerate(procs, start=1)
    ]
    doc = {
        "schema_version": 1,
        "agent": {"name": "hostpulse-exporter", "version": "bench", "instance_id": instance},
        "reports": [
            {
                "seq": seq,
                "timestamp": ts,
                "host": {"name": host, "id": host},
                "metrics": metrics,
                "processes": processes,
                "collectors": [{"name": "cpu", "duration_seconds": 0.001, "success": True}],
            }
        ],
    }
    return orjson.dumps(doc)


# --- load generator (a separate process) --------------------------------------------------------


async def _post(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], port: int, body: bytes
) -> int:
    reader, writer = conn
    head = (
        f"POST /ingest/metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    try:
        response_head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:  # closed while idle (its keep-alive timeout)
        raise ConnectionResetError("connection closed before a response") from exc
    lines = response_head.split(b"\r\n")
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def loadgen(
    ports: list[int], rate: float, seconds: float, *, hosts: int = 50, max_conns: int = 256
) -> dict[str, Any]:
    """Open loop: report i is due at t0 + i/rate; latency counts from when it was due. With
    several ports (independent serve processes) a host's reports go to one of them, as a load
    balancer with sticky connections would send them.

    At most `max_conns` requests in flight. Agents each hold their own connection and wait for
    the answer, which comes once the batch is committed (tens of ms): at 1,000-3,000 reports/s
    that is 100-300 in flight (Little's law). The former 64 capped the capacity run at
    64 / latency, a limit of the load generator, not of the backend."""
    cpu_at_start = time.process_time()
    idle_by_port: dict[int, list[Any]] = {port: [] for port in ports}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    total = int(rate * seconds)
    seqs = [0] * hosts
    tasks = set()

    async def one(i: int, due: float) -> None:
        host = i % hosts
        seqs[host] += 1
        port = ports[host % len(ports)]
        idle = idle_by_port[port]
        body = report_body(
            f"bench-{host}", f"{os.getpid()}-{host}", seqs[host], int(time.time() * 1000)
        )
        if idle:
            conn = idle.pop()
            try:
                status = await _post(conn, port, body)
            except ConnectionError:  # a stale keep-alive connection: HTTP clients send again
                conn[1].close()
                conn = await asyncio.open_connection("127.0.0.1", port)
                status = await _post(conn, port, body)
        else:
            conn = await asyncio.open_connection("127.0.0.1", port)
            status = await _post(conn, port, body)
        latencies.append(time.perf_counter() - due)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        idle.append(conn)

    gate = asyncio.Semaphore(max_conns)

    async def limited(i: int, due: float) -> None:
        async with gate:
            await one(i, due)

    t0 = time.perf_counter() + 0.2
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(limited(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    for idle in idle_by_port.values():
        for _, writer in idle:
            writer.close()
    return {
        "sent": total,
        "elapsed": elapsed,
        "cpu_s": time.process_time() - cpu_at_start,
        "statuses": statuses,
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
    }


def ws_subscription(watch: str, client: int, hosts: int) -> str:
    """What client number `client` subscribes to: `all` every host's full frames (protocol v1,
    what every dashboard tab did before the fleet summary); `mix` as the web UI does today, half
    the clients on the fleet view (v2 summaries) and half on one host's view (its frames)."""
    if watch == "all":
        return '{"type":"subscribe","hosts":"*"}'
    if client % 2:
        host = f"bench-{(client // 2) % max(hosts, 1)}"
        request = {"type": "subscribe", "v": 2, "summary": False, "hosts": [host]}
        return orjson.dumps(request).decode()
    return '{"type":"subscribe","v":2,"summary":true,"hosts":[]}'


async def ws_clients(
    url: str, clients: int, seconds: float, session: str, watch: str = "all", hosts: int = 0
) -> dict[str, Any]:
    """`clients` WebSocket clients subscribed as `ws_subscription` says; delay from accepted_ms
    to receipt of each samples frame."""
    from websockets.asyncio.client import connect

    delays: list[float] = []
    cookie = {"Cookie": f"hostpulse_session={session}"}
    conns = [await connect(url, max_queue=None, additional_headers=cookie) for _ in range(clients)]
    for number, ws in enumerate(conns):
        await ws.send(ws_subscription(watch, number, hosts))
        await ws.recv()
    print("ready", flush=True)

    async def read(ws: Any) -> None:
        while True:
            text = await ws.recv()
            received_ms = time.time() * 1000
            head_end = text.find(',"samples"')
            if head_end < 0:  # another message type (a pong, an alert): not a samples frame
                continue
            # Only the head is parsed: a full JSON parse per client would load this process.
            frame = orjson.loads(text[:head_end] + "}")
            if frame.get("type") == "samples":
                delays.append(received_ms - frame["accepted_ms"])

    readers = [asyncio.create_task(read(ws)) for ws in conns]
    if seconds > 0:
        await asyncio.sleep(seconds)
    else:  # until the orchestrator closes our stdin
        await asyncio.to_thread(sys.stdin.read)
    for task in readers:
        task.cancel()
    for outcome in await asyncio.gather(*readers, return_exceptions=True):
        if not isinstance(outcome, asyncio.CancelledError):
            print(f"a reader stopped early: {outcome!r}", file=sys.stderr)
    for ws in conns:
        await ws.close()
    return {"delays_ms": delays}


# --- the orchestrating process ------------------------------------------------------------------


def child(*args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    """This script in another process (a load generator or WebSocket clients)."""
    return subprocess.Popen([sys.executable, __file__, *args], stdin=stdin, stdout=subprocess.PIPE)


async def wait_ready(base: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("backend did not become ready")


async def self_metrics(client: httpx.AsyncClient) -> dict[str, float]:
    """The backend's /metrics, unlabelled samples by name."""
    text = (await client.get("/metrics")).text
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and line[0] != "#"
    }


async def writer_drained(base: str, within: float = 120) -> float:
    """Samples the writer has written, once its queue is empty (-1 if it never empties)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            values = await self_metrics(client)
            if values.get("hostpulse_writer_queue_samples", 1) == 0:
                return values.get("hostpulse_writer_written_samples_total", 0)
            await asyncio.sleep(0.2)
    return -1


async def seed_sealing_backlog(dsn: str, hosts: int, hours: int) -> datetime:
    """`hours` of realistic reports of `hosts` hosts in the head, in windows the sealing job
    freezes at once: its first pass, as the server starts, seals them during the ingest runs.
    The rows are laid out in time order, as ingest writes them. Returns where the backlog ends."""
    from head_loader import copy_window, register  # they import this module
    from realistic_host import INTERVAL_MS, host_series

    from backend.storage.migrations import migrate_database
    from backend.storage.sealing import SealingSettings, frontier_for

    end = frontier_for(datetime.now(UTC), SealingSettings().grace)
    end_ms = int(end.timestamp() * 1000)
    start_ms = end_ms - hours * 3_600_000
    count = hours * 3_600_000 // INTERVAL_MS
    series = [s for h in range(hosts) for s in host_series(f"backlog-{h:03d}", start_ms, count, h)]
    await migrate_database(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        ids = await register(conn, series)
        rows = 0
        for lo in range(start_ms, end_ms, 2 * 3_600_000):
            rows += await copy_window(conn, series, ids, lo, lo + 2 * 3_600_000, in_time_order=True)
    finally:
        await conn.close()
    say(f"sealing backlog: {rows:,} samples of {hosts} hosts x {hours} h in the head, frozen")
    return end


async def copy_same_rows(dsn: str, n_rows: int) -> float:
    """Raw asyncpg COPY of (series_id, time, value) rows like ingest's, into a same-shaped table."""
    conn = await asyncpg.connect(dsn)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM series WHERE host LIKE 'bench-%'")]
        await conn.execute(
            "CREATE TABLE bench_copy (series_id bigint NOT NULL, time timestamptz NOT NULL,"
            " value double precision NOT NULL)"
        )
        await conn.execute("CREATE INDEX ON bench_copy (series_id, time)")
        now = datetime.now(UTC)
        rows = [
            (ids[i % len(ids)], now + timedelta(milliseconds=i), float(i)) for i in range(n_rows)
        ]
        started = time.perf_counter()
        for chunk in range(0, n_rows, 5000):
            await conn.copy_records_to_table("bench_copy", records=rows[chunk : chunk + 5000])
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_copy")
        return n_rows / elapsed
    finally:
        await conn.close()


async def seed_history(dsn: str, days: int = 30) -> int:
    """30 days of 2-second samples for one series, plus the rollups the writer's job would make."""
    conn = await asyncpg.connect(dsn)
    try:
        sid = await conn.fetchval(
            "INSERT INTO series (metric, host, labels) VALUES ($1, $2, $3::jsonb) RETURNING id",
            HIST_METRIC,
            HIST_HOST,
            '{"cpu_logical_number": "0"}',
        )
        end = datetime.now(UTC).replace(microsecond=0)
        start = end - timedelta(days=days)
        await conn.execute(  # one head partition per 2-hour window (041_sealed_chunks.sql)
            "SELECT hostpulse_ensure_head_partition(t) "
            "FROM generate_series($1::timestamptz, $2::timestamptz, '2 hours') t",
            start,
            end + timedelta(hours=2),
        )
        n = days * 86400 // 2
        rows = [(sid, start + timedelta(seconds=2 * i), (i % 500) / 500) for i in range(n)]
        for chunk in range(0, n, 50_000):
            await conn.copy_records_to_table("samples", records=rows[chunk : chunk + 50_000])
        for table, width, source, cols in (
            ("rollup_1m", "1 minute", "samples", "min(value), max(value), sum(value), count(*)"),
            ("rollup_1h", "1 hour", "rollup_1m", "min(min), max(max), sum(sum), sum(count)"),
        ):
            t = "time" if source == "samples" else "bucket"
            await conn.execute(
                f"INSERT INTO {table} SELECT series_id, date_bin('{width}', {t}, 'epoch'), {cols} "
                f"FROM {source} WHERE series_id = $1 GROUP BY 1, 2",
                sid,
            )
        await conn.execute("ANALYZE")
        return n
    finally:
        await conn.close()


async def history_latency(
    base: str, session: str, span: timedelta, runs: int = 15
) -> tuple[float, int]:
    now = datetime.now(UTC)
    params = {
        "host": HIST_HOST,
        "metric": HIST_METRIC,
        "from": (now - span).isoformat(),
        "to": now.isoformat(),
    }
    times, points = [], 0
    cookies = {"hostpulse_session": session}
    async with httpx.AsyncClient(base_url=base, timeout=30, cookies=cookies) as client:
        for _ in range(runs):
            started = time.perf_counter()
            response = await client.get("/api/metrics/history", params=params)
            times.append(time.perf_counter() - started)
            response.raise_for_status()
            points = sum(len(s["points"]) for s in response.json()["series"])
    return statistics.median(times), points


# Programs sharing the machine with the worker during a run, by role.
_OTHERS = {"PostgreSQL": ("postgres",), "Redis": ("redis-server",)}


def load(
    port: int, pid: int, rate: float, seconds: float, hosts: int
) -> tuple[dict[str, Any], float]:
    """One open-loop run in a load-generator process; its results and backend CPU per report."""
    cpu_before = cpu_seconds(pid)
    others_before = [cpu_of_programs(*names) for names in _OTHERS.values()]
    busy_before = machine_busy_seconds()
    gen = child("--loadgen", str(port), str(rate), str(seconds), str(hosts))
    out, _ = gen.communicate()
    run: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    per_report_ms = 1000 / run["sent"]
    cpu_ms = (cpu_seconds(pid) - cpu_before) * per_report_ms
    others = [
        (cpu_of_programs(*names) - before) * per_report_ms
        for names, before in zip(_OTHERS.values(), others_before, strict=True)
    ]
    busy_ms = (machine_busy_seconds() - busy_before) * per_report_ms
    achieved = run["sent"] / run["elapsed"]
    say(f"  {run['sent']} reports in {run['elapsed']:.1f}s = {achieved:.0f}/s; {run['statuses']}")
    say(f"  latency p50 {run['p50'] * 1000:.1f} ms, p99 {run['p99'] * 1000:.1f} ms")
    say(f"  backend CPU {cpu_ms:.2f} ms per report")
    # The other programs on the same 2 cores, per report: what the worker competes with.
    shares = ", ".join(f"{role} {ms:.2f}" for role, ms in zip(_OTHERS, others, strict=True))
    cores = os.cpu_count() or 1
    say(
        f"  same run, CPU ms per report: load generator {run['cpu_s'] * per_report_ms:.2f}, "
        f"{shares}; whole machine {busy_ms:.2f} of the {cores * 1000 / achieved:.2f} its "
        f"{cores} cores have"
    )
    return run, cpu_ms


def start_watchers(port: int, clients: int, session: str) -> subprocess.Popen[bytes]:
    """`clients` dashboards subscribed to every host, until their stdin is closed."""
    url = f"ws://127.0.0.1:{port}/ws"
    watchers = child("--ws", url, str(clients), "0", session, stdin=subprocess.PIPE)
    assert watchers.stdout is not None
    watchers.stdout.readline()  # "ready": all subscribed
    return watchers


def stop_watchers(watchers: subprocess.Popen[bytes]) -> dict[str, float]:
    out, _ = watchers.communicate(b"")
    delays: list[float] = orjson.loads(out.splitlines()[-1])["delays_ms"]
    p50, p99 = pct(delays, 0.5), pct(delays, 0.99)
    say(f"  dashboards watching every host: {len(delays)} frames, p50 {p50:.1f}, p99 {p99:.1f} ms")
    return {"watched_frames": len(delays), "watched_p99_ms": p99}


async def phase_ingest(
    base: str, port: int, pid: int, dsn: str, args: argparse.Namespace, session: str
) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base) as client:
        sealing_before = await self_metrics(client)
    began = time.monotonic()
    figures = await ingest_runs(base, port, pid, dsn, args, session)
    async with httpx.AsyncClient(base_url=base) as client:
        sealing_after = await self_metrics(client)
    wall = time.monotonic() - began
    cpu, sealed = (
        sealing_after.get(name, 0.0) - sealing_before.get(name, 0.0)
        for name in (
            "hostpulse_storage_sealing_cpu_seconds_total",
            "hostpulse_storage_sealed_samples_total",
        )
    )
    say(
        f"sealing meanwhile: {sealed:,.0f} samples sealed, {cpu:.1f} s of the worker's CPU in "
        f"{wall:.0f} s = {cpu / wall * 100:.1f} % of one core"
    )
    figures["sealed_samples_during_ingest"] = sealed
    figures["sealing_core_share_pct"] = cpu / wall * 100
    if sealed:
        # What sealing everything ingested at 1,000 reports/s would cost the worker.
        per_sample = cpu / sealed
        figures["sealing_pct_at_1000_per_s"] = per_sample * 1000 * figures["per_report"] * 100
    return figures


async def ingest_runs(
    base: str, port: int, pid: int, dsn: str, args: argparse.Namespace, session: str
) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        warmup = await c.post("/ingest/metrics", content=report_body("warm", "warm", 1, now_ms()))
    per_report = int(warmup.json()["samples"])
    ok = 0  # 200s, whose samples must all be in PostgreSQL at the end
    if args.warmup > 0:
        # Not measured: the agents' series are created, caches and connections warmed, as on a
        # backend that has been receiving reports for a while.
        say(f"warm-up: {args.rate / 2:.0f} reports/s for {args.warmup:.0f}s (not measured)")
        warm, _ = load(port, pid, args.rate / 2, args.warmup, args.hosts)
        ok += warm["statuses"].get("200", 0)
        await writer_drained(base)
    rates: list[float] = []
    p99s: list[float] = []
    cpus: list[float] = []
    watched: dict[str, float] = {}
    if args.watchers:
        # Live frames are only made while someone listens: this prices an open dashboard.
        say(f"{args.watchers} WebSocket clients watch every host during the ingest runs")
        watchers = start_watchers(port, args.watchers, session)
    for attempt in range(1, args.repeat + 1):
        say(
            f"ingest run {attempt}/{args.repeat}: offering {args.rate:.0f} reports/s for "
            f"{args.seconds:.0f}s from {args.hosts} hosts, {per_report} samples each"
        )
        run, cpu_ms = load(port, pid, args.rate, args.seconds, args.hosts)
        ok += run["statuses"].get("200", 0)
        rates.append(run["sent"] / run["elapsed"])
        p99s.append(run["p99"] * 1000)
        cpus.append(cpu_ms)
        await writer_drained(base)
    if args.watchers:
        watched = stop_watchers(watchers)
    # The machine is shared and noisy: each figure is the median of the runs.
    rate, cpu_ms = statistics.median(rates), statistics.median(cpus)
    if args.repeat > 1:
        say(
            f"  runs: reports/s {', '.join(f'{r:.0f}' for r in rates)}; p99 ms "
            f"{', '.join(f'{p:.0f}' for p in p99s)}; CPU ms/report "
            f"{', '.join(f'{c:.2f}' for c in cpus)}"
        )
    # Ingest's own ceiling, for the ratio to raw COPY: offered more than it can take, the
    # load generator's 64 connections keep the worker busy; only 200s count.
    say(f"ingest capacity: offering {3 * args.rate:.0f} reports/s for 5s (more than it takes)")
    flood, _ = load(port, pid, 3 * args.rate, 5, args.hosts)
    ok += flood["statuses"].get("200", 0)
    capacity = flood["statuses"].get("200", 0) / flood["elapsed"]
    say(f"  capacity {capacity:.0f} reports/s = {capacity * per_report:,.0f} samples/s")
    await writer_drained(base)
    steady_rate = max(10.0, round(rate * 0.6))
    say(f"ingest: offering {steady_rate:.0f} reports/s (60% of the above) for 5s")
    steady, steady_cpu_ms = load(port, pid, steady_rate, 5, args.hosts)
    ok += steady["statuses"].get("200", 0)
    await writer_drained(base)
    conn = await asyncpg.connect(dsn)
    # Not the sealing backlog's samples, which may still be in the head.
    stored = await conn.fetchval(
        "SELECT count(*) FROM samples WHERE series_id IN "
        "(SELECT id FROM series WHERE host NOT LIKE 'backlog-%')"
    )
    stored -= per_report
    await conn.close()
    accepted = ok * per_report
    say(f"  accepted {accepted} samples; rows in PostgreSQL {stored}")
    copy_rate = await copy_same_rows(dsn, min(accepted, 600_000))
    ingest_rate = capacity * per_report
    say(f"  raw COPY {copy_rate:,.0f} rows/s vs ingest capacity {ingest_rate:,.0f} samples/s")
    return {
        **watched,
        "per_report": per_report,
        "reports_per_s": rate,
        "capacity_reports_per_s": capacity,
        "ingest_p99_ms": statistics.median(p99s),
        "steady_reports_per_s": steady["sent"] / steady["elapsed"],
        "steady_p99_ms": steady["p99"] * 1000,
        "cpu_ms_per_report": cpu_ms,
        # Fewer concurrent requests share fewer Redis and PostgreSQL round trips: it costs more.
        "steady_cpu_ms_per_report": steady_cpu_ms,
        "lost_samples": accepted - stored,
        "copy_rows_per_s": copy_rate,
        "ingest_vs_copy": ingest_rate / copy_rate,
    }


async def phase_websocket(
    base: str, port: int, pid: int, clients: int, session: str, procs: int = 4
) -> dict[str, float]:
    say(f"websocket: {clients} clients ({procs} processes), all hosts, 10 reports/s for 8s")
    url = f"ws://127.0.0.1:{port}/ws"
    listeners = [child("--ws", url, str(clients // procs), "10", session) for _ in range(procs)]
    for listener in listeners:
        assert listener.stdout is not None
        listener.stdout.readline()  # "ready": all its clients subscribed
    cpu_before = cpu_seconds(pid)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        for seq in range(1, 81):
            await c.post("/ingest/metrics", content=report_body("ws-1", "ws-1", seq, now_ms()))
            await asyncio.sleep(0.1)
    cpu_us = (cpu_seconds(pid) - cpu_before) * 1e6
    delays = [
        d
        for listener in listeners
        for d in orjson.loads(listener.communicate()[0].splitlines()[-1])["delays_ms"]
    ]
    p50, p99 = pct(delays, 0.5), pct(delays, 0.99)
    say(f"  backend CPU {cpu_us / max(1, len(delays)):.0f} us per frame delivered (incl. ingest)")
    say(f"  {len(delays)} frames; delivery p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    return {"ws_frames": len(delays), "ws_p99_ms": p99}


async def phase_history(base: str, dsn: str, session: str) -> dict[str, float]:
    say("history: seeding 30 days of 2 s samples (and their rollups) for one series")
    seeded = await seed_history(dsn)
    hour, hour_points = await history_latency(base, session, timedelta(hours=1))
    month, month_points = await history_latency(base, session, timedelta(days=30))
    say(f"  {seeded:,} raw samples; median of 15: 1 h {hour * 1000:.1f} ms ({hour_points} points)")
    say(f"  30 d {month * 1000:.1f} ms ({month_points} points)")
    return {"history_1h_ms": hour * 1000, "history_30d_ms": month * 1000, "30d_vs_1h": month / hour}


def now_ms() -> int:
    return int(time.time() * 1000)


TARGETS = {
    "reports_per_s": ">= 1000",
    "ingest_p99_ms": "<= 100",
    "lost_samples": "== 0",
    "ingest_vs_copy": ">= 0.3",
    "ws_p99_ms": "<= 50",
    "history_30d_ms": "<= 100",
    "30d_vs_1h": "<= 3",
    "cpu_ms_per_report": "<= ~0.8 (so one worker has room for 1000/s)",
    "sealing_pct_at_1000_per_s": "<= 10 (% of one core, the worker's part)",
}


def dsn_of(db: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + db


def serve_command(port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "backend.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def server_env(dsn: str, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a `serve` process on the throw-away database and Redis prefix."""
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": REDIS_URL,
        "HOSTPULSE_REDIS_PREFIX": prefix,
        "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": TOKEN,
        "HOSTPULSE_LOG_LEVEL": "warning",
        # One token stands for all the simulated agents: its bucket must not be what limits.
        "HOSTPULSE_RATE_LIMITS__INGEST_PER_TOKEN__CAPACITY": "1000000000",
        "HOSTPULSE_RATE_LIMITS__INGEST_PER_TOKEN__PER_SECOND": "1000000000",
        **extra,
    }


async def main(args: argparse.Namespace) -> None:
    db = f"hp_bench_{uuid.uuid4().hex[:10]}"
    dsn = dsn_of(db)
    prefix, port = f"{db}:", free_port()
    base = f"http://127.0.0.1:{port}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{db}"')
    say(f"throw-away database {db}; one uvicorn worker on :{port}")
    env = server_env(dsn, prefix)
    if args.sealing_backlog and "ingest" in args.phases:
        await seed_sealing_backlog(dsn, args.hosts, args.sealing_backlog)
    server = subprocess.Popen(serve_command(port), env=env)  # noqa: ASYNC220 - started once, before any load
    results: dict[str, float] = {}
    try:
        await wait_ready(base)
        session = await viewer_session(dsn)
        if "ingest" in args.phases:
            results.update(await phase_ingest(base, port, server.pid, dsn, args, session))
        if "ws" in args.phases:
            ws = await phase_websocket(base, port, server.pid, args.ws_clients, session)
            results.update(ws)
        if "history" in args.phases:
            results.update(await phase_history(base, dsn, session))
    finally:
        server.terminate()
        server.wait(30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
        await drop_redis_prefix(prefix)
        say(f"dropped {db} and the Redis prefix {prefix}")
    print(f"\nsummary (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for key, value in results.items():
        print(f"  {key:24} {value:>12,.2f}  {TARGETS.get(key, '')}")


# --layouts: (name, --workers per serve process, serve processes), all on one database and Redis.
LAYOUTS = (("1 worker", 1, 1), ("2 workers", 2, 1), ("2 serve processes", 1, 2))


def process_tree_cpu(pid: int) -> float:
    """CPU seconds so far of `pid` and its children (uvicorn's worker processes)."""
    total = cpu_seconds(pid)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                parent = int(stat.read().rpartition(")")[2].split()[1])
            if parent == pid:
                total += cpu_seconds(int(entry))
        except (OSError, ValueError):
            continue
    return total


def layout_step(
    ports: list[int], pids: list[int], rate: float, seconds: float, hosts: int
) -> dict[str, Any]:
    """One open-loop run at `rate` over `ports`; latency, statuses and where the CPU went, in
    cores (CPU seconds per wall second)."""
    backend_before = sum(process_tree_cpu(pid) for pid in pids)
    others_before = [cpu_of_programs(*names) for names in _OTHERS.values()]
    busy_before = machine_busy_seconds()
    began = time.monotonic()
    gen = child("--loadgen", ",".join(map(str, ports)), str(rate), str(seconds), str(hosts))
    out, _ = gen.communicate()
    wall = time.monotonic() - began
    run: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    cores = {
        "HostPulse": (sum(process_tree_cpu(pid) for pid in pids) - backend_before) / wall,
        **{
            role: (cpu_of_programs(*names) - before) / wall
            for (role, names), before in zip(_OTHERS.items(), others_before, strict=True)
        },
        "load generator": run["cpu_s"] / wall,
    }
    cores["rest of the machine"] = max(
        0.0, (machine_busy_seconds() - busy_before) / wall - sum(cores.values())
    )
    return {**run, "cores": cores}


async def run_layout(
    name: str, workers: int, processes: int, args: argparse.Namespace
) -> dict[str, Any]:
    db = f"hp_bench_{uuid.uuid4().hex[:10]}"
    dsn = dsn_of(db)
    prefix = f"{db}:"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{db}"')
    env = server_env(dsn, prefix)
    ports = [free_port() for _ in range(processes)]
    servers: list[subprocess.Popen[bytes]] = []
    steps: list[dict[str, Any]] = []
    try:
        for port in ports:
            server = subprocess.Popen(serve_command(port, workers), env=env)  # noqa: ASYNC220
            servers.append(server)
            await wait_ready(f"http://127.0.0.1:{port}")
        pids = [server.pid for server in servers]
        say(f"{name}: warm-up {args.layout_start / 2:.0f} reports/s for 5 s (not measured)")
        layout_step(ports, pids, args.layout_start / 2, 5, args.hosts)
        for port in ports:
            await writer_drained(f"http://127.0.0.1:{port}")
        rate = args.layout_start
        while True:
            step = layout_step(ports, pids, rate, args.seconds, args.hosts)
            step["rate"] = rate
            steps.append(step)
            ok = step["p99"] <= 0.1 and set(step["statuses"]) == {"200"}
            where = ", ".join(f"{role} {c:.2f}" for role, c in step["cores"].items())
            say(
                f"  {rate:.0f} reports/s offered: p99 {step['p99'] * 1000:.0f} ms, "
                f"{step['statuses']}; cores used: {where}"
            )
            for port in ports:
                await writer_drained(f"http://127.0.0.1:{port}")
            if not ok or rate >= args.layout_max:
                break
            rate += args.layout_step
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
        await drop_redis_prefix(prefix)
    passed = [step for step in steps if step["p99"] <= 0.1 and set(step["statuses"]) == {"200"}]
    return {
        "layout": name,
        "workers": workers * processes,
        "capacity": passed[-1]["rate"] if passed else 0.0,
        "at_capacity": passed[-1] if passed else None,
        "beyond": steps[-1] if steps and steps[-1] not in passed else None,
    }


def parse_settings(text: str) -> dict[str, str]:
    """`NAME=VALUE NAME=VALUE` (server environment variables) as a mapping."""
    pairs = [item.partition("=") for item in text.split()]
    bad = [name for name, eq, _ in pairs if not eq or not name.startswith("HOSTPULSE_")]
    if not pairs or bad:
        raise SystemExit(f"--compare wants HOSTPULSE_NAME=VALUE pairs, got {text!r}")
    return {name: value for name, _, value in pairs}


async def compare_main(args: argparse.Namespace) -> None:
    """Ingest p99 of the server as configured (A) and with `--compare` settings (B), runs
    alternating A B B A A B ..., each server on its own database with its own sealing backlog
    and only one server up at a time, so both meet the machine's drift alike."""
    variants = {"A (as configured)": {}, f"B ({args.compare})": parse_settings(args.compare)}
    admin = await asyncpg.connect(ADMIN_DSN)
    databases = {name: f"hp_bench_{uuid.uuid4().hex[:10]}" for name in variants}
    p99s: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for name, db in databases.items():
            await admin.execute(f'CREATE DATABASE "{db}"')
            say(f"{name}: throw-away database {db}")
            if args.sealing_backlog:
                await seed_sealing_backlog(dsn_of(db), args.hosts, args.sealing_backlog)
        order = list(variants)
        for turn in range(args.repeat):
            for name in order if turn % 2 == 0 else order[::-1]:
                db, port = databases[name], free_port()
                env = server_env(dsn_of(db), f"{db}:", **variants[name])
                server = subprocess.Popen(serve_command(port), env=env)  # noqa: ASYNC220
                try:
                    await wait_ready(f"http://127.0.0.1:{port}")
                    say(f"{name}, run {turn + 1}/{args.repeat}: warm-up {args.warmup:.0f} s")
                    load(port, server.pid, args.rate, args.warmup, args.hosts)
                    await writer_drained(f"http://127.0.0.1:{port}")
                    run, cpu_ms = load(port, server.pid, args.rate, args.seconds, args.hosts)
                    p99s[name].append(run["p99"] * 1000)
                    cpus[name].append(cpu_ms)
                finally:
                    server.terminate()
                    server.wait(30)
    finally:
        for db in databases.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await drop_redis_prefix(f"{db}:")
        await admin.close()
    print(f"\nsummary (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    medians = {name: statistics.median(values) for name, values in p99s.items()}
    for name in variants:
        runs = ", ".join(f"{p:.0f}" for p in p99s[name])
        print(
            f"  {name}: p99 ms {runs} (median {medians[name]:.0f}); backend CPU ms/report "
            f"median {statistics.median(cpus[name]):.2f}"
        )
    a, b = medians.values()
    print(f"  p99 B / A: {b / a:.2f}")


async def layouts_main(args: argparse.Namespace) -> None:
    results = [await run_layout(name, w, p, args) for name, w, p in LAYOUTS]
    cores = os.cpu_count()
    print(
        f"\ncapacity: reports/s at p99 <= 100 ms (steps of {args.layout_step:.0f}/s, "
        f"{args.seconds:.0f} s each; load average {os.getloadavg()[0]:.1f} on {cores} cores)"
    )
    for result in results:
        print(f"  {result['layout']:20} {result['capacity']:>7.0f} reports/s")
        step = result["at_capacity"] or result["beyond"]
        if step is not None:
            # CPU ms per report, by role: what an idle machine of `cores` cores could take.
            per_report = {role: c * 1000 / step["rate"] for role, c in step["cores"].items()}
            ours = sum(ms for role, ms in per_report.items() if role != "rest of the machine")
            workers = result["workers"]
            projected = min(cores * 1000 / ours, workers * 1000 / per_report["HostPulse"])
            shares = ", ".join(
                f"{role} {ms:.2f}"
                for role, ms in per_report.items()
                if role != "rest of the machine"
            )
            print(
                f"    CPU ms per report: {shares}; on {cores} idle cores that projects to "
                f"{projected:.0f} reports/s (the {workers} worker(s) could take "
                f"{workers * 1000 / per_report['HostPulse']:.0f}/s, the machine "
                f"{cores * 1000 / ours:.0f}/s)"
            )
        for label in ("at_capacity", "beyond"):
            step = result[label]
            if step is None:
                continue
            where = ", ".join(f"{role} {c:.2f}" for role, c in step["cores"].items())
            print(
                f"    {label.replace('_', ' '):12} {step['rate']:.0f}/s: p99 "
                f"{step['p99'] * 1000:.0f} ms; cores: {where}"
            )


async def viewer_session(dsn: str) -> str:
    """A session token of a throw-away viewer: reads and /ws need a logged-in user."""
    from backend.auth.sessions import create_session
    from backend.users.store import create_user

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        user = await create_user(pool, "bench-viewer", "bench viewer password 1234", "viewer")
        return (await create_session(pool, user, 3600.0)).token
    finally:
        await pool.close()


async def drop_redis_prefix(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        ports_ = [int(port) for port in sys.argv[2].split(",")]
        rate_, seconds_, hosts_ = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        # uvloop, as the backend: the generator stands in for agents on other machines, so the
        # less of this machine's CPU it takes from the worker, the closer to that it measures.
        print(orjson.dumps(uvloop.run(loadgen(ports_, rate_, seconds_, hosts=hosts_))).decode())
    elif len(sys.argv) > 1 and sys.argv[1] == "--ws":
        print(
            orjson.dumps(
                asyncio.run(
                    ws_clients(
                        sys.argv[2],
                        int(sys.argv[3]),
                        float(sys.argv[4]),
                        sys.argv[5],
                        *(sys.argv[6:7] or ["all"]),
                        *[int(n) for n in sys.argv[7:8]],
                    )
                )
            ).decode()
        )
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--rate", type=float, default=1000.0, help="reports/s offered")
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument(
            "--repeat", type=int, default=3, help="ingest runs at --rate; medians are reported"
        )
        parser.add_argument(
            "--warmup", type=float, default=5.0, help="seconds of unmeasured load first"
        )
        parser.add_argument(
            "--hosts",
            type=int,
            default=50,
            help="distinct agents the reports come from (2000 is 1,000/s at the agent's 2 s)",
        )
        parser.add_argument("--ws-clients", type=int, default=200)
        parser.add_argument(
            "--sealing-backlog",
            type=int,
            default=4,
            help="hours of --hosts hosts' reports put in the head, frozen, before the server "
            "starts: its sealing job seals them during the ingest runs (0: none)",
        )
        parser.add_argument(
            "--watchers",
            type=int,
            default=0,
            help="WebSocket clients watching every host during the ingest runs (an open dashboard)",
        )
        parser.add_argument(
            "--phases",
            type=lambda text: set(text.split(",")),
            default={"ingest", "ws", "history"},
            help="comma-separated subset of ingest,ws,history (default: all)",
        )
        parser.add_argument(
            "--layouts",
            action="store_true",
            help="instead of the phases: capacity (reports/s at p99 <= 100 ms) of 1 worker, "
            "2 workers and 2 serve processes on one database and Redis, rising by "
            "--layout-step from --layout-start, --seconds each step",
        )
        parser.add_argument(
            "--compare",
            metavar="SETTINGS",
            help="instead of the phases: ingest p99 as configured against with these server "
            "settings ('HOSTPULSE_WRITER_LANES=1 ...'), --repeat runs each, alternating, each "
            "with its own --sealing-backlog",
        )
        parser.add_argument("--layout-start", type=float, default=400.0)
        parser.add_argument("--layout-step", type=float, default=200.0)
        parser.add_argument("--layout-max", type=float, default=4000.0)
        parsed = parser.parse_args()
        if parsed.layouts:
            asyncio.run(layouts_main(parsed))
        elif parsed.compare:
            asyncio.run(compare_main(parsed))
        else:
            asyncio.run(main(parsed))
