"""HostPulse soak: many simulated agents and WebSocket clients against one backend for minutes.

    .venv/bin/python bench/soak.py [--minutes 10] [--hosts 2000] [--rate 1000] [--ws-clients 200]

One backend process (one uvicorn worker) on a throw-away database of the shared PostgreSQL and a
key prefix of the shared Redis; `--hosts` agents sending a report (60 samples, top-5 processes:
bench/backend_bench.py's generator) every `--hosts / --rate` seconds in total `--rate`
reports/s, open loop, from a separate process; `--ws-clients` WebSocket clients from another: as
the web UI subscribes (`--ws-watch mix`: half on the fleet view's summaries, half on one host's
frames each) or every host's full frames (`--ws-watch all`). Every 10 s it samples the backend's
resident memory, the Redis server's memory above what it used before the run (INFO's
used_memory: one O(1) call; summing MEMORY USAGE over the run's keys, 600,000 dedup entries after
10 minutes, cost this process half a core and starved the backend it measures), and the CPU
each part used. At the end it prints a table per minute (reports, errors, p50 and p99 ingest
latency, RSS, Redis, CPU of backend / PostgreSQL / Redis / load generator / WebSocket clients)
and the checks: 0 errors, 0 lost (every acknowledged report's process table in PostgreSQL), RSS
after the first minute flat within +-10 %, Redis memory flat within +10 % once everything Redis
keeps for a while has turned over: the 5-minute recent window and the 10-minute duplicate-report
entries (from minute 11; a shorter run skips that check). Exit status 0 when all pass.
PostgreSQL: by default a throw-away cluster of the soak's own (initdb as user postgres, removed
afterwards) with the settings docs/scaling.md gives for a fleet (FLEET_POSTGRES below): at
2,000 hosts the head's (series, time) index takes a sample into each of 124,000 series' newest
leaf pages every 2 s, ~1 GB of pages that stock PostgreSQL (shared_buffers 128 MB, max_wal_size
1 GB) keeps evicting and, checkpointing every few seconds, writing again as full-page images: its
CPU climbed from 30 % to a whole core within 6 minutes and the backend fell behind for good.
`--postgres shared` runs against HOSTPULSE_TEST_PG (the machine's server) as it is configured.
Not part of the test suite: the full run takes --minutes plus about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import uvloop
from backend_bench import (
    ADMIN_DSN,
    REDIS_URL,
    TOKEN,
    cpu_of_programs,
    cpu_seconds,
    drop_redis_prefix,
    free_port,
    pct,
    report_body,
    say,
    viewer_session,
    wait_ready,
)

from backend.ingest.dedup import DEDUP_TTL_SECONDS

BENCH_SCRIPT = str(Path(__file__).resolve().parent / "backend_bench.py")  # its WebSocket clients
SAMPLE_EVERY = 10.0  # seconds between RSS / Redis memory samples
# The generator stops this long after the run: reports still waiting for one of its 256
# connections are counted `unsent` (the backend was not keeping up), not sent late.
UNSENT_AFTER = 10.0
# What Redis keeps expires after at most 10 minutes (DEDUP_TTL_SECONDS; the recent window is 5):
# from a minute after that, its memory must stay flat.
WINDOW_FULL_AFTER = DEDUP_TTL_SECONDS + 60.0
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# docs/scaling.md, "PostgreSQL for a fleet": what the soak's own cluster runs with.
FLEET_POSTGRES = {
    "shared_buffers": "4GB",
    "max_wal_size": "16GB",
    "wal_compression": "lz4",
    "max_connections": "200",
}


# --- load generator (a separate process) --------------------------------------------------------


async def _post(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], port: int, body: bytes
) -> tuple[int, bytes]:
    reader, writer = conn
    head = (
        f"POST /ingest/metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    try:
        response_head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ConnectionResetError("connection closed before a response") from exc
    lines = response_head.split(b"\r\n")
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return int(lines[0].split()[1]), await reader.readexactly(length)


async def loadgen(port: int, rate: float, seconds: float, hosts: int) -> dict[str, Any]:
    """Open loop: report i is due at t0 + i/rate, host i % hosts; latency from when it was due.
    Per minute (of due time): sent, statuses, latencies; samples accepted in 200 answers."""
    minutes: dict[int, dict[str, Any]] = {}
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    seqs = [0] * hosts
    accepted_samples = 0
    acked: list[tuple[int, int]] = []  # (host number, report time ms) of every 200
    gate = asyncio.Semaphore(256)
    tasks: set[asyncio.Task[None]] = set()
    instance = uuid.uuid4().hex[:8]

    async def one(i: int, due: float, minute: dict[str, Any]) -> None:
        nonlocal accepted_samples
        host = i % hosts
        seqs[host] += 1
        at = int(time.time() * 1000)
        # backend_bench's host names: its WebSocket clients subscribe to host views by them.
        body = report_body(f"bench-{host}", f"{instance}-{host}", seqs[host], at)
        try:  # a report still waiting for a connection after the run is not sent at all
            async with asyncio.timeout_at(give_up_at):
                await gate.acquire()
        except TimeoutError:
            minute["statuses"]["unsent"] = minute["statuses"].get("unsent", 0) + 1
            return
        try:
            status = 0
            try:
                conn = idle.pop() if idle else await asyncio.open_connection("127.0.0.1", port)
                try:
                    status, answer = await _post(conn, port, body)
                except ConnectionError:  # a stale keep-alive connection: send again
                    conn[1].close()
                    conn = await asyncio.open_connection("127.0.0.1", port)
                    status, answer = await _post(conn, port, body)
                idle.append(conn)
            except OSError as exc:
                minute["statuses"][type(exc).__name__] = (
                    minute["statuses"].get(type(exc).__name__, 0) + 1
                )
                return
        finally:
            gate.release()
        minute["latencies"].append(time.perf_counter() - due)
        minute["statuses"][str(status)] = minute["statuses"].get(str(status), 0) + 1
        if status == 200:
            accepted_samples += int(orjson.loads(answer)["samples"])
            acked.append((host, at))

    give_up_at = asyncio.get_running_loop().time() + seconds + UNSENT_AFTER
    t0 = time.perf_counter() + 0.2
    for i in range(int(rate * seconds)):
        due = t0 + i / rate
        minute = minutes.setdefault(
            int((due - t0) // 60), {"sent": 0, "statuses": {}, "latencies": []}
        )
        minute["sent"] += 1
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, due, minute))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return {
        "accepted_samples": accepted_samples,
        "acked": acked,
        "minutes": [
            {
                "minute": m,
                "sent": v["sent"],
                "statuses": v["statuses"],
                "p50": pct(v["latencies"], 0.5),
                "p99": pct(v["latencies"], 0.99),
            }
            for m, v in sorted(minutes.items())
        ],
    }


# --- the orchestrating process ------------------------------------------------------------------


@contextlib.contextmanager
def own_postgres(settings: dict[str, str]) -> Iterator[str]:
    """A throw-away PostgreSQL cluster with `settings`; yields its admin DSN."""
    if not (PG_BIN / "initdb").exists():
        sys.exit(
            f"{PG_BIN}/initdb is not installed (Debian: postgresql-15), or use --postgres shared"
        )
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    directory = Path(tempfile.mkdtemp(prefix="hp-soak-pg-"))
    if as_postgres:
        shutil.chown(directory, "postgres", "postgres")
    data, port = directory / "data", free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_postgres, *command], check=True, capture_output=True, timeout=300)

    options = " ".join(
        [f"-h 127.0.0.1 -p {port} -k {directory}"] + [f"-c {k}={v}" for k, v in settings.items()]
    )
    say(f"PostgreSQL of the soak's own in {directory}: " + ", ".join(
        f"{k} {v}" for k, v in settings.items()
    ))  # fmt: skip
    try:
        run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-w", "-o",
            options, "start")  # fmt: skip
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(directory, ignore_errors=True)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def redis_used_bytes() -> int:
    """The Redis server's used_memory (INFO: O(1), unlike walking the run's keys)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return int((await client.info("memory"))["used_memory"])
    finally:
        await client.aclose()


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at the run, every SAMPLE_EVERY seconds: memory, and CPU seconds used so far."""

    at: float  # seconds into the run
    rss: int  # the backend's resident memory, bytes
    redis: int  # Redis used_memory above what it used before the run, bytes
    cpu: dict[str, float]  # part -> CPU seconds so far


def cpu_so_far(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each part: the run's own processes by pid, PostgreSQL and
    Redis as every process of that name (nothing else uses them during a soak)."""
    cpu = {part: cpu_seconds(pid) for part, pid in pids.items()}
    cpu["postgres"] = cpu_of_programs("postgres")
    cpu["redis"] = cpu_of_programs("redis-server")
    return cpu


async def stored_samples(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT (SELECT count(*) FROM samples s JOIN series r ON r.id = s.series_id"
                "        WHERE r.host LIKE 'bench-%')"
                "     + (SELECT count(*) FROM samples_late s JOIN series r ON r.id = s.series_id"
                "        WHERE r.host LIKE 'bench-%')"
            )
        )
    finally:
        await conn.close()


async def acked_not_stored(dsn: str, acked: list[list[int]]) -> int:
    """Acknowledged reports (host number, time ms) without their process table in PostgreSQL:
    each report carries one, so a missing one is a lost report."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TEMP TABLE acked (host text, time timestamptz)")
        await conn.copy_records_to_table(
            "acked",
            records=[(f"bench-{h}", datetime.fromtimestamp(t / 1000, UTC)) for h, t in acked],
        )
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM process_snapshots p"
                " WHERE p.host = a.host AND p.time = a.time)"
            )
        )
    finally:
        await conn.close()


async def writer_idle(base: str, within: float = 300) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            text = (await client.get("/metrics")).text
            if "\nhostpulse_writer_queue_samples 0.0\n" in text:
                return
            await asyncio.sleep(0.5)
    say("the writer queue never emptied")


def child(*args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=stdin, stdout=subprocess.PIPE)


async def main(args: argparse.Namespace, admin_dsn: str) -> int:
    db = f"hp_soak_{uuid.uuid4().hex[:10]}"
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + db
    prefix, port = f"{db}:", free_port()
    base = f"http://127.0.0.1:{port}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{db}"')
    seconds = args.minutes * 60
    say(
        f"throw-away database {db}; one worker on :{port}; {args.hosts} agents, "
        f"{args.rate:.0f} reports/s, {args.ws_clients} WebSocket clients, {args.minutes:g} min"
    )
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": REDIS_URL,
        "HOSTPULSE_REDIS_PREFIX": prefix,
        "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": TOKEN,
        "HOSTPULSE_LOG_LEVEL": "warning",
        # One token stands for all the simulated agents: its bucket must not be what limits.
        "HOSTPULSE_RATE_LIMITS__INGEST_PER_TOKEN__CAPACITY": "1000000000",
        "HOSTPULSE_RATE_LIMITS__INGEST_PER_TOKEN__PER_SECOND": "1000000000",
    }
    serve = [sys.executable, "-m", "backend.cli", "serve", "--port", str(port), "--workers", "1"]
    redis_before = await redis_used_bytes()
    server = subprocess.Popen(serve, env=env)  # noqa: ASYNC220 - started once, before any load
    samples: list[Sample] = []
    watchers: subprocess.Popen[bytes] | None = None
    try:
        await wait_ready(base)
        session = await viewer_session(dsn)
        if args.ws_clients:
            url = f"ws://127.0.0.1:{port}/ws"
            watchers = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load
                [
                    *(sys.executable, BENCH_SCRIPT, "--ws", url, str(args.ws_clients), "0"),
                    *(session, args.ws_watch, str(args.hosts)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            assert watchers.stdout is not None
            await asyncio.to_thread(watchers.stdout.readline)  # "ready": all subscribed
        gen = child("--loadgen", str(port), str(args.rate), str(seconds), str(args.hosts))
        pids = {"backend": server.pid, "load generator": gen.pid, "soak": os.getpid()}
        if watchers is not None:
            pids["WebSocket clients"] = watchers.pid
        started = time.monotonic()
        done = asyncio.ensure_future(asyncio.to_thread(gen.communicate))
        while not done.done():
            samples.append(
                Sample(
                    time.monotonic() - started,
                    rss_bytes(server.pid),
                    await redis_used_bytes() - redis_before,
                    cpu_so_far(pids),
                )
            )
            await asyncio.wait({done}, timeout=SAMPLE_EVERY)
        out, _ = done.result()
        run: dict[str, Any] = orjson.loads(out.splitlines()[-1])
        delays: list[float] = []
        if watchers is not None:
            ws_out, _ = await asyncio.to_thread(watchers.communicate, b"")
            delays = orjson.loads(ws_out.splitlines()[-1])["delays_ms"]
            watchers = None
        await writer_idle(base)
        stored = await stored_samples(dsn)
        lost_reports = await acked_not_stored(dsn, run["acked"])
    finally:
        if watchers is not None:
            watchers.kill()
        server.terminate()
        server.wait(60)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
        await drop_redis_prefix(prefix)
        say(f"dropped {db} and the Redis prefix {prefix}")
    return report(args, run, samples, stored, lost_reports, delays)


def report(
    args: argparse.Namespace,
    run: dict[str, Any],
    samples: list[Sample],
    stored: int,
    lost_reports: int,
    delays: list[float],
) -> int:
    mib = 1024 * 1024
    print(
        f"\nsoak: {args.hosts} agents, {args.rate:.0f} reports/s offered, {args.ws_clients} "
        f"WebSocket clients, {args.minutes:g} min (load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores)"
    )
    print(
        f"{'minute':>6} {'due':>8} {'200':>8} {'not 200':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'RSS MiB':>8} {'Redis MiB':>10}  CPU % of one core: "
        + ", ".join(samples[0].cpu if samples else ())
    )
    errors = 0
    for minute in run["minutes"]:
        m = minute["minute"]
        for key in ("p50", "p99"):  # a minute without one answer has no latency (JSON null)
            minute[key] = float("nan") if minute[key] is None else minute[key]
        ok = minute["statuses"].get("200", 0)
        bad = (
            sum(n for s, n in minute["statuses"].items() if s != "200")
            + minute["sent"]
            - sum(minute["statuses"].values())
        )
        errors += bad
        in_minute = [s for s in samples if m * 60 <= s.at < (m + 1) * 60] or samples[-1:]
        before = [s for s in samples if s.at < m * 60][-1:] or samples[:1]
        last, first = in_minute[-1], before[0]
        span = max(last.at - first.at, 1e-9)
        cpu = " ".join(
            f"{(last.cpu[part] - first.cpu[part]) / span * 100:5.0f}" for part in last.cpu
        )
        print(
            f"{m + 1:>6} {minute['sent']:>8} {ok:>8} {bad:>7} {minute['p50'] * 1000:>8.1f} "
            f"{minute['p99'] * 1000:>8.1f} {last.rss / mib:>8.1f} {last.redis / mib:>10.2f}  {cpu}"
        )
    accepted = run["accepted_samples"]
    statuses: dict[str, int] = {}
    for minute in run["minutes"]:
        for status, n in minute["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    print(f"answers: {statuses}")
    warm = [s for s in samples if s.at >= 60] or samples[len(samples) // 2 :]
    rss_values = [s.rss for s in warm]
    rss_mid = (max(rss_values) + min(rss_values)) / 2
    rss_spread = (max(rss_values) - min(rss_values)) / 2 / rss_mid * 100
    # Bounded: flat from a minute after the longest-lived entries (dedup, 10 min) turn over.
    full = [s.redis for s in samples if s.at >= WINDOW_FULL_AFTER]
    redis_ok: bool | None = None
    redis_detail = f"not checked: needs a run over {WINDOW_FULL_AFTER / 60:.0f} min"
    if len(full) >= 2:
        redis_ok = max(full) <= full[0] * 1.10
        redis_detail = (
            f"{full[0] / mib:.2f} MiB at {WINDOW_FULL_AFTER / 60:.0f} min, at most "
            f"{max(full) / mib:.2f} MiB after (<= +10 %)"
        )
    checks: dict[str, tuple[bool | None, str]] = {
        "errors == 0 (every report due answered 200)": (errors == 0, f"{errors}"),
        "lost == 0 (every acknowledged report stored)": (
            lost_reports == 0 and stored >= accepted,
            f"{len(run['acked']):,} reports acknowledged, {lost_reports} of them not stored; "
            f"{accepted:,} samples acknowledged, {stored:,} stored (with those of 503s, written "
            "after their answer)",
        ),
        "RSS after warm-up flat within +-10 %": (
            rss_spread <= 10,
            f"{min(rss_values) / mib:.1f}..{max(rss_values) / mib:.1f} MiB (+-{rss_spread:.1f} %)",
        ),
        "Redis memory bounded (recent window and dedup entries)": (redis_ok, redis_detail),
    }
    if delays:
        print(
            f"WebSocket frames: {len(delays):,}, delay p50 {pct(delays, 0.5):.1f} ms, "
            f"p99 {pct(delays, 0.99):.1f} ms"
        )
    print()
    for name, (passed, detail) in checks.items():
        verdict = "SKIP" if passed is None else "PASS" if passed else "FAIL"
        print(f"  {verdict}  {name}: {detail}")
    return 0 if all(passed is not False for passed, _ in checks.values()) else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        port_, rate_, seconds_, hosts_ = sys.argv[2:6]
        result = uvloop.run(loadgen(int(port_), float(rate_), float(seconds_), int(hosts_)))
        print(orjson.dumps(result).decode())
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument(
            "--minutes",
            type=float,
            default=12.0,
            help="how long (default 12: the Redis check starts at minute 11, when the 10-minute "
            "duplicate-report entries turn over)",
        )
        parser.add_argument("--hosts", type=int, default=2000, help="simulated agents (2000)")
        parser.add_argument("--rate", type=float, default=1000.0, help="reports/s in all (1000)")
        parser.add_argument("--ws-clients", type=int, default=200, help="WebSocket clients (200)")
        parser.add_argument(
            "--ws-watch",
            choices=("mix", "all"),
            default="mix",
            help="what the clients subscribe to: mix = as the web UI does, half on the fleet view "
            "(summaries) and half on one host's view each; all = every host's full frames, what "
            "every tab did before the fleet summary (default mix)",
        )
        parser.add_argument(
            "--postgres",
            choices=("own", "shared"),
            default="own",
            help="own = a throw-away cluster with docs/scaling.md's fleet settings (default); "
            "shared = HOSTPULSE_TEST_PG as it is configured",
        )
        args_ = parser.parse_args()
        if args_.postgres == "shared":
            sys.exit(asyncio.run(main(args_, ADMIN_DSN)))
        with own_postgres(FLEET_POSTGRES) as admin_dsn_:
            status = asyncio.run(main(args_, admin_dsn_))
        sys.exit(status)
