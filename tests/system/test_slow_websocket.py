"""A WebSocket client that stops reading: the others keep their latency, the slow one is
dropped, the backend's memory stays bounded. Real backend process, real WebSocket clients; the
slow one has a 4 KiB receive buffer and never reads, so the backend's sends to it block."""

from __future__ import annotations

import asyncio
import re
import socket
import statistics
import time
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.backend.alerts.support import admin_headers
from tests.backend.running import agent_report
from tests.system.support import AUTH, BackendProcess, backend_env, wait_until

HOSTS = [f"ws-slow-{n}" for n in range(5)]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def read_latencies(ws: ClientConnection, latencies: list[float]) -> None:
    """Receive until closed; each frame's delay from the backend accepting it, in seconds."""
    try:
        async for raw in ws:
            message = orjson.loads(raw)
            if message.get("type") == "samples":
                latencies.append(time.time() - message["accepted_ms"] / 1000)
    except ConnectionClosed:
        return


@pytest.mark.timeout(240)
async def test_a_client_that_stops_reading_is_dropped_and_the_others_keep_their_latency(
    database_url: str, redis_url: str, redis_prefix: str, sync_cleanup_redis: None, tmp_path: Path
) -> None:
    admin = await admin_headers(database_url)
    env = backend_env(database_url, redis_url, redis_prefix, HOSTPULSE_RATE_LIMITS__ENABLED="false")
    backend = BackendProcess(env, tmp_path / "backend.log")
    await backend.start()
    assert backend.process is not None
    ws_url = backend.url.replace("http://", "ws://") + "/ws"
    headers = {"Authorization": admin["Authorization"]}
    subscribe = orjson.dumps({"type": "subscribe", "hosts": "*"}).decode()
    stop = asyncio.Event()
    try:
        readers: list[ClientConnection] = []
        latencies: list[list[float]] = []
        for _ in range(3):
            ws = await connect(ws_url, additional_headers=headers, max_size=None)
            await ws.send(subscribe)
            readers.append(ws)
            latencies.append([])
        reading = [
            asyncio.create_task(read_latencies(ws, got))
            for ws, got in zip(readers, latencies, strict=True)
        ]
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", backend.port))
        slow = await connect(
            ws_url, sock=raw, additional_headers=headers, max_queue=1, ping_interval=None
        )
        await slow.send(subscribe)

        async def push() -> None:
            async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
                seq = 0
                while not stop.is_set():
                    seq += 1
                    for host in HOSTS:
                        report = agent_report(host, seq=seq, cores=64, instance=f"i-{host}")
                        answer = await client.post("/ingest/metrics", json=report, headers=AUTH)
                        assert answer.status_code == 200, answer.text
                    await asyncio.sleep(0.05)

        pushing = asyncio.create_task(push())
        await asyncio.sleep(5)
        rss_warm = rss_bytes(backend.process.pid)
        # The slow client's frames back up; the server must give up on it (the client sends no
        # pings: it never notices by itself).
        metrics = httpx.AsyncClient(base_url=backend.url, timeout=30)

        async def slow_one_dropped() -> bool:
            text = (await metrics.get("/metrics")).text
            closed = re.search(r"^hostpulse_live_slow_clients_closed_total (\S+)$", text, re.M)
            clients = re.search(r"^hostpulse_live_clients (\S+)$", text, re.M)
            if closed is None or clients is None:
                return False
            return float(closed[1]) >= 1 and float(clients[1]) == 3

        await wait_until(slow_one_dropped, 60, "the backend to drop the slow client", every=0.5)
        await metrics.aclose()
        await asyncio.sleep(3)  # the others keep going after the drop
        rss_end = rss_bytes(backend.process.pid)
        stop.set()
        await asyncio.wait_for(pushing, 30)
        for ws in readers:
            await ws.close()
        slow.transport.abort()
        await asyncio.gather(*reading)
    finally:
        stop.set()
        await backend.stop()

    for got in latencies:
        assert len(got) > 100, "a reading client got almost nothing"
        p99 = statistics.quantiles(got, n=100)[98]
        assert p99 < 2.0, f"a reading client's p99 latency was {p99:.2f}s"
    assert rss_end - rss_warm < 64 * 1024 * 1024, (rss_warm, rss_end)
