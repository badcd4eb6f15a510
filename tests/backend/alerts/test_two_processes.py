"""Two backend processes on one database and Redis: every transition is decided and notified
exactly once, and the alert's state survives the evaluating process going away."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from tests.backend.running import AUTH, TOKEN, backend_process, now_ms, wait_for

from .receiver import webhook_receiver
from .support import admin_headers, cpu_report

pytestmark = pytest.mark.slow


async def test_each_transition_is_notified_once_across_processes_and_a_leader_change(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> None:
    admin = await admin_headers(database_url)
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HOSTPULSE_REDIS_PREFIX": redis_prefix,
        "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": TOKEN,
        "HOSTPULSE_LOG_LEVEL": "warning",
        "HOSTPULSE_ALERTING__LEASE_TTL": "3s",
    }
    lease_key = f"{redis_prefix}alerting:leader"

    async def leader_elected() -> bool:
        return bool(await redis_client.exists(lease_key))

    start = now_ms() - 15_000
    async with contextlib.AsyncExitStack() as stack:
        receiver = await stack.enter_async_context(webhook_receiver())
        first_process = contextlib.AsyncExitStack()
        stack.push_async_callback(first_process.aclose)
        first = await first_process.enter_async_context(backend_process(env))
        await wait_for(leader_elected, within=20, what="the first process to evaluate")
        first_leader = await redis_client.get(lease_key)
        second = await stack.enter_async_context(backend_process(env))
        one = await stack.enter_async_context(httpx.AsyncClient(base_url=first, timeout=10))
        two = await stack.enter_async_context(httpx.AsyncClient(base_url=second, timeout=10))
        # A WebSocket on the process that is not evaluating still sees the transitions.
        ws_url = second.replace("http://", "ws://") + "/ws"
        ws = await stack.enter_async_context(
            connect(ws_url, additional_headers={"Authorization": admin["Authorization"]})
        )
        await ws.send('{"type":"subscribe","hosts":"*"}')
        created = await one.post(
            "/api/webhooks", json={"name": "ops", "url": receiver.url}, headers=admin
        )
        assert created.status_code == 201, created.text
        for i in range(12):
            client = one if i % 2 else two
            report = cpu_report("two-1", idle=0.02, time_ms=start + i * 1000)
            response = await client.post("/ingest/metrics", json=report, headers=AUTH)
            assert response.status_code == 200, response.text

        async def fired() -> bool:
            return bool(receiver.alerts("firing", "HighCpu"))

        await wait_for(fired, within=20, what="the HighCpu firing webhook")
        live: list[tuple[str, str]] = []
        while ("HighCpu", "firing") not in live:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "alert":
                live.append((message["rule"], message["to"]))
        assert live == [("HighCpu", "pending"), ("HighCpu", "firing")]

        # The evaluating process goes away; the second takes the lease and the alert's state.
        await first_process.aclose()

        async def resolved() -> bool:
            report = cpu_report("two-1", idle=0.7)
            response = await two.post("/ingest/metrics", json=report, headers=AUTH)
            assert response.status_code == 200, response.text
            return bool(receiver.alerts("resolved", "HighCpu"))

        await wait_for(resolved, within=30, what="the HighCpu resolved webhook")
        assert await redis_client.get(lease_key) not in (None, first_leader)
        await asyncio.sleep(2.0)  # a duplicate would arrive within the next ticks
        history = await two.get("/api/alerts/history", params={"rule": "HighCpu"}, headers=admin)
    statuses = [a["status"] for a in receiver.alerts(rule="HighCpu")]
    assert statuses == ["firing", "resolved"]
    moves: list[Any] = [(t["from_state"], t["to_state"]) for t in history.json()["transitions"]]
    assert moves[::-1] == [("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]
