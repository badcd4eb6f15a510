"""Redis stopped under a running backend: ingest continues (PostgreSQL is the record), the live
view and alerting resume by themselves once Redis is back (empty, as after a restart), and
nothing acknowledged is lost. Redis is a redis-server of the test's own on its own port."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.backend.alerts.receiver import webhook_receiver
from tests.backend.alerts.support import admin_headers, cpu_report
from tests.conftest import require_program
from tests.system.support import (
    AUTH,
    BackendProcess,
    OwnRedis,
    Pusher,
    backend_env,
    outage_seconds,
    snapshot_times,
)

LIVE_HOST = "redis-live"


async def next_samples_after(ws: ClientConnection, after_ms: int, within: float) -> None:
    """Wait for a live `samples` frame of LIVE_HOST with a sample newer than `after_ms`."""
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no live frame newer than {after_ms} within {within:.0f}s")
        try:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            continue
        if message.get("type") == "samples" and message.get("host") == LIVE_HOST:
            newest = max((s["time_ms"] for s in message["samples"]), default=0)
            if newest > after_ms:
                return


@pytest.mark.timeout(300)
async def test_ingest_continues_and_live_and_alerting_resume_after_a_redis_outage(
    database_url: str, tmp_path: Path
) -> None:
    redis = OwnRedis(require_program("redis-server"))
    await redis.start()
    admin = await admin_headers(database_url)
    env = backend_env(
        database_url,
        redis.url,
        "hp_system:",
        HOSTPULSE_ALERTING__LEASE_TTL="3s",
        HOSTPULSE_RATE_LIMITS__ENABLED="false",  # the senders share one token
    )
    backend = BackendProcess(env, tmp_path / "backend.log")
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(redis.stop)
        receiver = await stack.enter_async_context(webhook_receiver())
        await backend.start()
        stack.push_async_callback(backend.stop)
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=backend.url, timeout=30)
        )
        created = await client.post(
            "/api/webhooks", json={"name": "ops", "url": receiver.url}, headers=admin
        )
        assert created.status_code == 201, created.text
        ws = await stack.enter_async_context(
            connect(
                backend.url.replace("http://", "ws://") + "/ws",
                additional_headers={"Authorization": admin["Authorization"]},
            )
        )
        await ws.send(orjson.dumps({"type": "subscribe", "hosts": [LIVE_HOST]}).decode())
        pusher = Pusher(client, LIVE_HOST, "i-redis-live")
        stop = asyncio.Event()
        pushing = asyncio.create_task(pusher.run(stop, interval=0.3))
        await next_samples_after(ws, 0, within=20)

        await redis.stop()
        outage_started = len(pusher.statuses)
        await asyncio.sleep(outage_seconds())
        during = Counter(pusher.statuses[outage_started:])
        assert during[200] > 0, f"ingest stalled: {during}"
        assert set(during) == {200}, f"answers while Redis was away: {during}"

        await redis.start()  # empty, like a restarted Redis without persistence
        back_at = int(time.time() * 1000)
        await next_samples_after(ws, back_at, within=30)  # the same WebSocket, no reconnect

        # Alerting: ten seconds of busy CPU now make HighCpu fire (its `for` is 10s).
        start = int(time.time() * 1000) - 12_000
        for i in range(13):
            report = cpu_report("redis-alert", idle=0.02, time_ms=start + i * 1000)
            answer = await client.post("/ingest/metrics", json=report, headers=AUTH)
            assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 40
        while not receiver.alerts("firing", "HighCpu"):
            if time.monotonic() > deadline:
                pytest.fail(f"HighCpu never fired after Redis came back: {backend.log_tail()}")
            # Keep the host's CPU busy until the evaluator (re)takes its lease and sees it.
            report = cpu_report("redis-alert", idle=0.02)
            await client.post("/ingest/metrics", json=report, headers=AUTH)
            await asyncio.sleep(0.5)

        stop.set()
        await asyncio.wait_for(pushing, 30)

    stored = Counter(await snapshot_times(database_url, LIVE_HOST))
    assert all(n == 1 for n in stored.values())
    missing = [t for t in pusher.acked_times if t not in stored]
    assert not missing, f"{len(missing)} of {len(pusher.acked_times)} acknowledged reports lost"
