"""The backend's ingest path without sockets: CPU per agent report through the real app.

    .venv/bin/python bench/backend_inprocess.py [--requests 6000] [--concurrency 8]

Builds the app as `hostpulse-backend serve` does (lifespan, PostgreSQL, Redis, writer, alerting)
on a throw-away database and Redis prefix, then sends it POST /ingest/metrics requests straight
through ASGI, `--concurrency` at a time, and prints this process's CPU per request. No uvicorn, no
kernel networking, no load generator beside it: what is left is HostPulse's own cost.

For a figure that does not drift with the machine, count instructions instead of seconds (about
40x slower; both sides of a change in the same run, as the machine's speed changes by the minute):

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python bench/backend_inprocess.py --requests 2000

The total ("Collected") includes start-up; compare two runs of the same --requests. Costs that
batch by wall time (the writer's 0.2 s flush) look larger under valgrind than they are.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

import asyncpg
import uvloop

# Run as a script, this directory is on sys.path: the agent's report is the other bench's.
from backend_bench import ADMIN_DSN, REDIS_URL, TOKEN, drop_redis_prefix, report_body

Message = dict[str, Any]


class Lifespan:
    """Runs an ASGI app's lifespan: started on enter, shut down on exit."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        async def receive() -> Message:
            return await self._inbox.get()

        async def send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self._started.set()
            elif message["type"].endswith(".failed"):
                raise SystemExit(f"lifespan: {message.get('message')}")

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(self._app(scope, receive, send))
        await self._inbox.put({"type": "lifespan.startup"})
        await self._started.wait()

    async def __aexit__(self, *_: object) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        if self._task is not None:
            await self._task


async def post_report(app: Any, body: bytes, statuses: dict[int, int]) -> None:
    """One POST /ingest/metrics through ASGI; counts the response status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ingest/metrics",
        "raw_path": b"/ingest/metrics",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the request ends when the app answers
        raise AssertionError("not reached")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    await app(scope, receive, send)


async def drive(app: Any, requests: int, concurrency: int, hosts: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    seqs = [0] * hosts
    for first in range(0, requests, concurrency):
        bodies = []
        for i in range(first, min(first + concurrency, requests)):
            host = i % hosts
            seqs[host] += 1
            bodies.append(report_body(f"bench-{host}", f"inproc-{host}", seqs[host], now_ms()))
        await asyncio.gather(*(post_report(app, body, statuses) for body in bodies))
    return statuses


def now_ms() -> int:
    return int(time.time() * 1000)


async def main(args: argparse.Namespace) -> None:
    db = f"hp_inproc_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{db}"')
    os.environ.update(
        {
            "DATABASE_URL": ADMIN_DSN.rsplit("/", 1)[0] + "/" + db,
            "REDIS_URL": REDIS_URL,
            "HOSTPULSE_REDIS_PREFIX": f"{db}:",
            "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": TOKEN,
            "HOSTPULSE_LOG_LEVEL": "warning",
            "HOSTPULSE_RATE_LIMITS__INGEST_PER_TOKEN__CAPACITY": "1000000000",
            "HOSTPULSE_RATE_LIMITS__INGEST_PER_TOKEN__PER_SECOND": "1000000000",
        }
    )
    from backend.cli import served_app

    app = served_app()
    try:
        async with Lifespan(app):
            print(f"warm-up: {args.warmup} requests (series created, caches filled)", flush=True)
            await drive(app, args.warmup, args.concurrency, args.hosts)
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            statuses = await drive(app, args.requests, args.concurrency, args.hosts)
            cpu = time.process_time() - cpu_before
            wall = time.perf_counter() - wall_before
            # The bodies were built in this process too: take that cost back out.
            build_before = time.process_time()
            for i in range(args.requests):
                report_body(f"bench-{i % args.hosts}", "inproc", i, now_ms())
            build = time.process_time() - build_before
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
        await drop_redis_prefix(f"{db}:")
    per_request_us = (cpu - build) / args.requests * 1e6
    print(
        f"{args.requests} requests, {args.concurrency} at a time: {per_request_us:.0f} us CPU "
        f"per request (building the bodies, {build / args.requests * 1e6:.0f} us, taken out); "
        f"wall {wall / args.requests * 1e6:.0f} us per request; statuses {statuses}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000, help="measured requests")
    parser.add_argument("--warmup", type=int, default=2000, help="unmeasured requests first")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="requests in flight together (they share Redis and PostgreSQL round trips)",
    )
    parser.add_argument("--hosts", type=int, default=50, help="distinct agents")
    uvloop.run(main(parser.parse_args()))
