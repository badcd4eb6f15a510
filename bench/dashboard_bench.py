"""HostPulse dashboard benchmark with the real browser (Debian's Chromium via Playwright).

    .venv/bin/python bench/dashboard_bench.py [--frames 40] [--json]

Starts a backend (throw-away PostgreSQL database, Redis key prefix) and the dashboard in this
process, fills the recent window with 5 minutes of a 16-core host's reports (one every 2 s),
then measures:
- first render: navigation start → the host view's charts and process table drawn
  (`performance.mark("hostpulse:first-render")`), logged in, opening `#/host/<host>` directly;
- main-thread time per live update: `performance.measure("hostpulse:live-update")` spans from
  receiving a WebSocket message to uPlot's redraw, plus long tasks (> 50 ms) seen meanwhile;
- the UI's own JavaScript/CSS/HTML size, uncompressed, the vendored uPlot aside.
Targets: first render ≤ 1 s, live update ≤ 16 ms, own JS ≤ 300 KB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx
import uvicorn
from playwright.async_api import async_playwright
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.alerts.settings import AlertingSettings  # noqa: E402
from backend.app import create_app as create_backend  # noqa: E402
from backend.auth.sessions import create_session  # noqa: E402
from backend.settings import BackendSettings  # noqa: E402
from backend.storage.migrations import migrate_database  # noqa: E402
from backend.users.store import create_user  # noqa: E402
from dashboards.app import STATIC_DIR, DashboardSettings  # noqa: E402
from dashboards.app import create_app as create_dashboard  # noqa: E402

ADMIN_DSN = os.environ.get("HOSTPULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HOSTPULSE_TEST_REDIS", "redis://127.0.0.1:6379/0")
TOKEN = "hp_dashboard-bench-token"
HOST = "bench-16"
CORES = 16
INTERVAL_MS = 2000
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TARGETS = {"first_render_ms": 1000.0, "live_update_ms": 16.0, "own_js_kb": 300.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def points(key: str, values: dict[str, float]) -> list[dict[str, Any]]:
    return [{"attributes": {key: k}, "value": v} for k, v in values.items()]


def metric(name: str, unit: str, kind: str, pts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "unit": unit, "type": kind, "points": pts}


def report(seq: int, time_ms: int) -> dict[str, Any]:
    """One report of a 16-core host: per-core and per-mode CPU, memory, swap, disk, network,
    threads, handles and its top-5 processes."""
    wave = (seq % 30) / 30
    cores = {str(c): (0.2 + 0.6 * wave + c / 100) % 1 for c in range(CORES)}
    modes = {"user": 0.3 * wave, "system": 0.1, "idle": 0.6 - 0.3 * wave + 0.3}
    return {
        "seq": seq,
        "timestamp": datetime.fromtimestamp(time_ms / 1000, UTC).isoformat()[:-6] + "Z",
        "host": {"name": HOST, "id": HOST},
        "metrics": [
            metric("system.cpu.utilization", "1", "gauge", points("cpu.logical_number", cores)),
            metric("system.cpu.utilization", "1", "gauge", points("cpu.mode", modes)),
            metric(
                "system.memory.usage",
                "By",
                "updowncounter",
                points("system.memory.state", {"used": 8e9 + 1e9 * wave, "free": 4e9}),
            ),
            metric(
                "system.memory.limit", "By", "updowncounter", [{"attributes": {}, "value": 32e9}]
            ),
            metric(
                "system.paging.usage",
                "By",
                "updowncounter",
                points("system.paging.state", {"used": 1e8}),
            ),
            metric(
                "hostpulse.system.threads",
                "{thread}",
                "updowncounter",
                [{"attributes": {}, "value": 900}],
            ),
            metric(
                "system.linux.file_handle.usage",
                "{file_handle}",
                "updowncounter",
                [{"attributes": {}, "value": 4000 + seq}],
            ),
            metric(
                "system.disk.io",
                "By",
                "counter",
                [
                    {
                        "attributes": {"system.device": "sda", "disk.io.direction": d},
                        "value": seq * 1e6,
                    }
                    for d in ("read", "write")
                ],
            ),
            metric(
                "system.network.io",
                "By",
                "counter",
                [
                    {
                        "attributes": {"network.interface.name": "eth0", "network.io.direction": d},
                        "value": seq * 2e5,
                    }
                    for d in ("receive", "transmit")
                ],
            ),
        ],
        "processes": [
            {
                "rank": r,
                "pid": 1000 + r,
                "name": f"proc-{r}",
                "cpu_utilization": 0.1 / r,
                "memory_rss_bytes": 10**8,
                "memory_virtual_bytes": 10**9,
                "threads": 8,
                "disk_read_bytes": seq * 1000,
                "disk_write_bytes": seq * 500,
                "open_fds": 20,
            }
            for r in range(1, 6)
        ],
        "collectors": [{"name": "cpu", "duration_seconds": 0.001, "success": True}],
    }


def batch(reports: list[dict[str, Any]]) -> dict[str, Any]:
    agent = {"name": "hostpulse-exporter", "version": "bench", "instance_id": "bench-i"}
    return {"schema_version": 1, "agent": agent, "reports": reports}


@contextlib.asynccontextmanager
async def served(app: Any, port: int, lifespan: Literal["on", "off"]) -> AsyncIterator[str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("a server stopped during start-up")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    name = f"hp_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def admin_session(dsn: str) -> str:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        user = await create_user(pool, "bench-admin", "bench password 123456", "admin")
        return (await create_session(pool, user, 3600.0)).token
    finally:
        await pool.close()


def own_ui_bytes() -> int:
    files = [*STATIC_DIR.glob("js/**/*.js"), STATIC_DIR / "style.css", STATIC_DIR / "index.html"]
    return sum(f.stat().st_size for f in files)


async def run(frames: int) -> dict[str, Any]:
    prefix = f"hp_bench_{uuid.uuid4().hex[:8]}:"
    async with database() as dsn:
        await migrate_database(dsn)
        session = await admin_session(dsn)
        dash_port = free_port()
        settings = BackendSettings(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            bootstrap_agent_token=SecretStr(TOKEN),
            cors_origins=[f"http://127.0.0.1:{dash_port}"],
            alerting=AlertingSettings(enabled=False),
            writer_flush_interval=0.05,
        )
        async with (
            served(create_backend(settings), free_port(), "on") as backend_url,
            served(
                create_dashboard(DashboardSettings(backend_url=backend_url)), dash_port, "off"
            ) as dash_url,
            httpx.AsyncClient(base_url=backend_url, timeout=30) as client,
        ):
            auth = {"Authorization": f"Bearer {TOKEN}"}
            now = int(time.time() * 1000)
            seqs = list(range(1, 151))
            history = [report(s, now - (150 - s) * INTERVAL_MS) for s in seqs]
            for i in range(0, len(history), 50):
                answer = await client.post(
                    "/ingest/metrics", json=batch(history[i : i + 50]), headers=auth
                )
                answer.raise_for_status()
            say(f"seeded 5 min of {HOST}: {len(history)} reports")
            return await measure(dash_url, session, client, auth, frames)


async def measure(
    dash_url: str, session: str, client: httpx.AsyncClient, auth: dict[str, str], frames: int
) -> dict[str, Any]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        await context.add_cookies(
            [{"name": "hostpulse_session", "value": session, "domain": "127.0.0.1", "path": "/"}]
        )
        page = await context.new_page()
        renders = []
        for _ in range(5):  # the first load is cold (a fresh browser); report the median
            await page.goto("about:blank")
            await page.goto(f"{dash_url}/#/host/{HOST}")
            await page.wait_for_function(
                "() => performance.getEntriesByName('hostpulse:first-render').length > 0",
                timeout=30000,
            )
            renders.append(
                await page.evaluate(
                    "() => performance.getEntriesByName('hostpulse:first-render')[0].startTime"
                )
            )
        steps = await page.evaluate(
            """() => performance.getEntriesByType("resource").map((e) =>
              `${e.name.split("/").slice(3).join("/").slice(0, 40)} `
              + `${e.startTime.toFixed(0)}+${e.duration.toFixed(0)}`)"""
        )
        say("last load: " + "; ".join(steps))
        points = await page.get_attribute("#chart-cores", "data-points")
        say(
            f"first render: {', '.join(f'{r:.0f}' for r in renders)} ms "
            f"({points} points per series)"
        )
        await page.wait_for_selector('#connection[data-state="live"]')
        await page.evaluate(
            """() => {
              window.__longTasks = [];
              new PerformanceObserver((list) =>
                window.__longTasks.push(...list.getEntries().map((e) => e.duration)))
                .observe({ type: "longtask" });
              performance.clearMeasures("hostpulse:live-update");
            }"""
        )
        seq = 1000
        for _ in range(frames):
            seq += 1
            answer = await client.post(
                "/ingest/metrics", json=batch([report(seq, int(time.time() * 1000))]), headers=auth
            )
            answer.raise_for_status()
            await asyncio.sleep(0.25)
        await page.wait_for_function(
            f"() => performance.getEntriesByName('hostpulse:live-update').length >= {frames}",
            timeout=30000,
        )
        updates = await page.evaluate(
            "() => performance.getEntriesByName('hostpulse:live-update').map(e => e.duration)"
        )
        long_tasks = await page.evaluate("() => window.__longTasks")
        await browser.close()
    updates.sort()
    return {
        "first_render_ms": statistics.median(renders),
        "first_render_runs_ms": renders,
        "points_per_series": int(points or 0),
        "live_updates": len(updates),
        "live_update_ms": statistics.median(updates),
        "live_update_p95_ms": updates[int(0.95 * (len(updates) - 1))],
        "live_update_max_ms": updates[-1],
        "long_tasks_during_live": len(long_tasks),
        "own_js_kb": own_ui_bytes() / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=40, help="live updates to measure")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = asyncio.run(run(args.frames))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"first render (16 cores, 5 min): {results['first_render_ms']:.0f} ms (target ≤ 1000)"
        )
        print(
            f"live update main-thread time: median {results['live_update_ms']:.2f} ms, "
            f"p95 {results['live_update_p95_ms']:.2f} ms, "
            f"max {results['live_update_max_ms']:.2f} ms "
            f"over {results['live_updates']} frames (target ≤ 16); "
            f"long tasks: {results['long_tasks_during_live']}"
        )
        print(f"UI's own JS/CSS/HTML: {results['own_js_kb']:.1f} KB (target ≤ 300, uPlot aside)")
    met = (
        results["first_render_ms"] <= TARGETS["first_render_ms"]
        and results["live_update_ms"] <= TARGETS["live_update_ms"]
        and results["own_js_kb"] <= TARGETS["own_js_kb"]
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
