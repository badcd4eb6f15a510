"""Redis goes away and comes back: ingest keeps storing to PostgreSQL, live fan-out resumes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from tests.backend.running import (
    AUTH,
    agent_report,
    now_ms,
    running_services,
    serve,
    service_settings,
    wait_for,
)
from tests.conftest import free_port, require_program

pytestmark = pytest.mark.slow


class ThrowAwayRedis:
    """A redis-server on 127.0.0.1:port keeping nothing on disk, started and stopped by the test."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            require_program("redis-server"),
            *("--bind", "127.0.0.1", "--port", str(self.port), "--save", ""),
            *("--appendonly", "no", "--dir", str(self.workdir)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = aioredis.Redis(host="127.0.0.1", port=self.port)

        async def answers() -> bool:
            try:
                return bool(await client.ping())
            except (OSError, aioredis.RedisError):
                return False

        try:
            await wait_for(answers, within=20, what="redis-server")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 20)
        self.process = None


async def _frame_for(ws: ClientConnection, host: str, within: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if message["type"] == "samples" and message["host"] == host:
            return dict(message)


async def test_ingest_survives_a_redis_restart_and_live_resumes(
    database_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    redis = ThrowAwayRedis(free_port(), tmp_path)
    await redis.start()
    settings = service_settings(database_url, f"redis://127.0.0.1:{redis.port}/0", redis_prefix)
    try:
        async with (
            serve(settings) as backend,
            connect(backend.ws_url, additional_headers=backend.ws_headers) as ws,
        ):
            # The same WebSocket client stays connected through the whole outage.
            await ws.send('{"type":"subscribe","hosts":"*"}')
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            subscriber = running_services(backend).live_subscriber
            assert subscriber.subscribed.is_set()
            await redis.stop()

            # Redis is away: ingest still answers 200 and the samples reach PostgreSQL.
            ready = await backend.client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"] == "unreachable"
            start = now_ms()
            for seq in range(1, 4):
                report = agent_report("during-outage", seq=seq, time_ms=start - 10_000 + seq * 1000)
                response = await backend.client.post("/ingest/metrics", json=report, headers=AUTH)
                assert response.status_code == 200, response.text

            async def stored() -> bool:
                params = {"host": "during-outage", "metric": "system_memory_usage_bytes"}
                body = (await backend.client.get("/api/metrics/history", params=params)).json()
                return bool(sum(p["count"] for s in body["series"] for p in s["points"]) == 3)

            await wait_for(stored, what="samples posted during the outage in PostgreSQL")

            await redis.start()

            async def resubscribed() -> bool:
                return bool(subscriber.subscribed.is_set())

            await wait_for(resubscribed, what="the live subscription to come back")

            async def live_again() -> bool:
                # The pipeline pauses Redis for a moment after a failure; keep posting.
                report = agent_report("after-restart", seq=now_ms(), instance="again")
                await backend.client.post("/ingest/metrics", json=report, headers=AUTH)
                try:
                    await _frame_for(ws, "after-restart", within=0.5)
                except TimeoutError:
                    return False
                return True

            await wait_for(live_again, what="live frames after the restart")
            recent = await backend.client.get(
                "/api/metrics/recent", params={"host": "after-restart"}
            )
            assert recent.json()["samples"]
            assert (await backend.client.get("/readyz")).status_code == 200
    finally:
        await redis.stop()
