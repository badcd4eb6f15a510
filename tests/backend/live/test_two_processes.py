"""Two backend processes on one database and Redis prefix share the live fan-out."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

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


async def test_fleet_summaries_of_hosts_reporting_to_one_process_reach_the_other(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HOSTPULSE_REDIS_PREFIX": redis_prefix,
        "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": TOKEN,
        "HOSTPULSE_LOG_LEVEL": "warning",
        "HOSTPULSE_LIVE_SUMMARY_FLUSH": "0.1",
    }
    async with backend_process(env) as first, backend_process(env) as second:
        session = await ensure_session(database_url, name="viewer-2", role="viewer")
        cookie = {"Cookie": f"hostpulse_session={session}"}
        async with httpx.AsyncClient(base_url=first, timeout=10) as client:
            response = await client.post("/ingest/metrics", json=agent_report("a-1"), headers=AUTH)
            assert response.status_code == 200, response.text
        second_ws = second.replace("http://", "ws://") + "/ws"
        async with connect(second_ws, additional_headers=cookie) as ws:
            await ws.send('{"type":"subscribe","v":2,"summary":true}')
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            # What the first process stored before this client came: in the first snapshot.
            snapshot = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert snapshot["type"] == "summaries"
            assert snapshot["full"] is True
            assert [h["host"] for h in snapshot["hosts"]] == ["a-1"]
            # What it accepts afterwards: published, and sent on by the second process. The
            # first process found nobody listening when it stored a-1 and only checks again
            # after a second (`LiveChannel`): b-1 reports every 0.5 s, like an agent would.
            message = await _summary_of(ws, first, "b-1")
        summary = message["hosts"][0]
        assert summary["status"] == "up"
        assert summary["cpu"] == pytest.approx(0.15)  # the mean of agent_report's two cores
        assert summary["top"]["name"] == "proc-1"


async def _summary_of(ws: ClientConnection, ingest_url: str, host: str) -> dict[str, Any]:
    """The first `summaries` message about `host`, which reports every 0.5 s meanwhile."""
    async with httpx.AsyncClient(base_url=ingest_url, timeout=10) as client:
        for seq in range(1, 30):
            document = agent_report(host, seq=seq)
            response = await client.post("/ingest/metrics", json=document, headers=AUTH)
            assert response.status_code == 200, response.text
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    while True:
                        message = orjson.loads(await ws.recv())
                        assert message["type"] != "samples"
                        hosts = [h["host"] for h in message.get("hosts", [])]
                        if message["type"] == "summaries" and host in hosts:
                            return dict(message)
    pytest.fail(f"no summary of {host} within 15 s")
