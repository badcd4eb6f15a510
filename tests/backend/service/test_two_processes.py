"""Two backend processes on one database and Redis prefix share the live fan-out."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.backend.auth.support import ensure_session
from tests.conftest import free_port

from .conftest import AUTH, TOKEN, agent_report, wait_for

pytestmark = pytest.mark.slow


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


async def test_a_sample_posted_to_one_process_reaches_websockets_of_the_other(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HOSTPULSE_REDIS_PREFIX": redis_prefix,
        "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": TOKEN,
        "HOSTPULSE_LOG_LEVEL": "warning",
    }
    async with backend_process(env) as first, backend_process(env) as second:
        session = await ensure_session(database_url, name="viewer-1", role="viewer")
        cookie = {"Cookie": f"hostpulse_session={session}"}
        second_ws = second.replace("http://", "ws://") + "/ws"
        async with connect(second_ws, additional_headers=cookie) as ws:
            await ws.send('{"type":"subscribe","hosts":["shared-1"]}')
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            async with httpx.AsyncClient(base_url=first, timeout=10) as client:
                response = await client.post(
                    "/ingest/metrics", json=agent_report("shared-1"), headers=AUTH
                )
                assert response.status_code == 200, response.text
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["type"] == "samples"
        assert frame["host"] == "shared-1"
        async with httpx.AsyncClient(base_url=second, timeout=10, headers=cookie) as client:
            hosts = (await client.get("/api/hosts")).json()["hosts"]
        assert [h["name"] for h in hosts] == ["shared-1"]
