"""Two backend processes on one database and Redis prefix share the live fan-out."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.backend.auth.support import ensure_session
from tests.backend.running import AUTH, TOKEN, agent_report, backend_process

pytestmark = pytest.mark.slow


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
