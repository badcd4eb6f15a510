"""The whole backend for the tests that need it running: real PostgreSQL and Redis, served by
uvicorn in-process on a free port (so WebSockets are real), plus agent report builders."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from backend.app import create_app
from backend.services import Services
from backend.settings import BackendSettings
from tests.conftest import free_port

TOKEN = "hp_service-tests-bootstrap-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(time_ms: int) -> str:
    seconds, millis = divmod(time_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def agent_report(
    host: str, *, seq: int = 1, time_ms: int | None = None, cores: int = 2, instance: str = "i-1"
) -> dict[str, Any]:
    """One agent batch (schema v1) with per-core CPU utilization and a two-process table."""
    at = time_ms if time_ms is not None else now_ms()
    return {
        "schema_version": 1,
        "agent": {"name": "hostpulse-exporter", "version": "0.1.0", "instance_id": instance},
        "reports": [
            {
                "seq": seq,
                "timestamp": iso(at),
                "host": {"name": host, "id": f"{host}-id"},
                "metrics": [
                    {
                        "name": "system.cpu.utilization",
                        "unit": "1",
                        "type": "gauge",
                        "points": [
                            {"attributes": {"cpu.logical_number": str(c)}, "value": 0.1 * (c + 1)}
                            for c in range(cores)
                        ],
                    },
                    {
                        "name": "system.memory.usage",
                        "unit": "By",
                        "type": "updowncounter",
                        "points": [{"attributes": {"system.memory.state": "used"}, "value": 1e9}],
                    },
                ],
                "processes": [
                    {
                        "rank": rank,
                        "pid": 100 + rank,
                        "name": f"proc-{rank}",
                        "cpu_utilization": 0.5 / rank,
                        "memory_rss_bytes": 1000,
                        "memory_virtual_bytes": 2000,
                        "threads": 3,
                        "disk_read_bytes": None,
                        "disk_write_bytes": None,
                        "open_fds": 7,
                    }
                    for rank in (1, 2)
                ],
                "collectors": [{"name": "cpu", "duration_seconds": 0.001, "success": True}],
            }
        ],
    }


async def wait_for(
    check: Callable[[], Awaitable[bool]], within: float = 15.0, what: str = "condition"
) -> None:
    """Poll `check` until it is true; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class RunningBackend:
    app: FastAPI
    base_url: str
    client: httpx.AsyncClient  # logged in as an admin (tests of auth itself use their own)
    session: str = ""

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"

    @property
    def ws_headers(self) -> dict[str, str]:
        """Headers a WebSocket client needs to be let in: the session cookie."""
        return {"Cookie": f"hostpulse_session={self.session}"}


def running_services(backend: RunningBackend) -> Services:
    """The services the running app's lifespan built."""
    services: Services = backend.app.state.services
    return services


def service_settings(
    database_url: str, redis_url: str, redis_prefix: str, **kw: Any
) -> BackendSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "bootstrap_agent_token": SecretStr(TOKEN),
        "writer_flush_interval": 0.05,
        "shutdown_timeout": 5.0,
    }
    values.update(kw)
    return BackendSettings(**values)


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any, port: int, **options: Any) -> AsyncIterator[None]:
    """`app` under uvicorn on 127.0.0.1:`port` in this event loop, started (or the test fails
    within 30 s) until the block ends. `options`: more uvicorn.Config settings (TLS)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        ws_per_message_deflate=False,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done():
            task.result()
            pytest.fail("uvicorn stopped during start-up")
        if time.monotonic() > deadline:
            pytest.fail("backend did not start within 30s")
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def serve(
    settings: BackendSettings, port: int | None = None, *, log_in: bool = True
) -> AsyncIterator[RunningBackend]:
    """The app under uvicorn in this event loop; stopped (writer flushed) on exit.

    With `log_in` the shared client carries an admin session (user `test-admin`); tests about
    users, sessions and authorization pass `log_in=False` and make their own."""
    app = create_app(settings)
    port = port or free_port()
    async with uvicorn_serving(app, port):
        base_url = f"http://127.0.0.1:{port}"
        from tests.backend.auth.support import ensure_session  # it imports this module

        session = await ensure_session(settings.database_url) if log_in else ""
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            if session:
                client.cookies.set("hostpulse_session", session)
            yield RunningBackend(app, base_url, client, session)


@contextlib.asynccontextmanager
async def backend_process(env: dict[str, str]) -> AsyncIterator[str]:
    """`hostpulse-backend serve` in its own process; its base URL once it is ready."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backend.cli",
        "serve",
        "--port",
        str(port),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:

            async def ready() -> bool:
                if process.returncode is not None:
                    assert process.stderr is not None
                    pytest.fail(f"backend exited: {(await process.stderr.read()).decode()[-2000:]}")
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(ready, within=60, what=f"backend on port {port}")
        yield base_url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
