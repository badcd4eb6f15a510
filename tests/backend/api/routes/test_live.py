"""`/ws` through the real app: live samples per subscribed host, bad messages, slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from tests.backend.running import (
    AUTH,
    RunningBackend,
    agent_report,
    now_ms,
    running_services,
    serve,
    service_settings,
    wait_for,
)


async def _subscribe(ws: ClientConnection, hosts: Any) -> None:
    await ws.send(orjson.dumps({"type": "subscribe", "hosts": hosts}).decode())
    reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply["type"] == "subscribed"


async def _next_samples(ws: ClientConnection, within: float = 10.0) -> dict[str, Any]:
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), within))
        if message["type"] == "samples":
            return dict(message)


async def test_clients_receive_live_samples_of_the_hosts_they_subscribed_to(
    backend: RunningBackend,
) -> None:
    async with (
        connect(backend.ws_url, additional_headers=backend.ws_headers) as one_host,
        connect(backend.ws_url, additional_headers=backend.ws_headers) as every_host,
    ):
        await _subscribe(one_host, ["web-1"])
        await _subscribe(every_host, "*")
        for host in ("web-2", "web-1"):
            response = await backend.client.post(
                "/ingest/metrics", json=agent_report(host, instance=host), headers=AUTH
            )
            assert response.status_code == 200, response.text

        frame = await _next_samples(one_host)
        assert frame["host"] == "web-1"  # web-2's frame was never sent to this client
        names = {s["name"] for s in frame["samples"]}
        assert "system_cpu_utilization_ratio" in names
        cpu = [s for s in frame["samples"] if s["name"] == "system_cpu_utilization_ratio"]
        assert {s["labels"]["cpu_logical_number"] for s in cpu} == {"0", "1"}
        assert [p["name"] for p in frame["processes"]["processes"]] == ["proc-1", "proc-2"]
        assert frame["accepted_ms"] <= now_ms()

        hosts = {(await _next_samples(every_host))["host"] for _ in range(2)}
        assert hosts == {"web-1", "web-2"}


async def test_bad_client_messages_get_an_error_and_the_socket_stays_up(
    backend: RunningBackend,
) -> None:
    async with connect(backend.ws_url, additional_headers=backend.ws_headers) as ws:
        await ws.send("{not json")
        error = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["type"] == "error"
        assert "not valid JSON" in error["detail"]
        await ws.send('{"type":"ping"}')
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
        await _subscribe(ws, ["web-9"])


async def test_a_slow_client_does_not_stall_a_fast_one(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    settings = service_settings(database_url, redis_url, redis_prefix, live_client_queue=4)
    async with serve(settings) as backend:
        stuck = asyncio.create_task(_stuck_client(backend))
        async with connect(backend.ws_url, additional_headers=backend.ws_headers) as fast:
            await _subscribe(fast, "*")
            hub = running_services(backend).hub
            await wait_for(_is(lambda: hub.client_count == 2), what="both clients connected")
            reports = 60
            received: list[int] = []

            async def read_fast() -> None:
                while len(received) < reports:
                    frame = await _next_samples(fast, within=20)
                    received.append(frame["accepted_ms"])

            reader = asyncio.create_task(read_fast())
            for seq in range(1, reports + 1):
                report = agent_report("busy-1", seq=seq, time_ms=now_ms() - 1000 + seq)
                response = await backend.client.post("/ingest/metrics", json=report, headers=AUTH)
                assert response.status_code == 200, response.text
            await asyncio.wait_for(reader, 30)
            assert len(received) == reports  # every frame reached the fast client

            metrics = (await backend.client.get("/metrics")).text
            # The stuck client holds one frame in its blocked send and 4 queued: the rest skip.
            assert _metric(metrics, "hostpulse_live_dropped_frames_total") >= reports - 5
            assert _metric(metrics, "hostpulse_live_clients") == 2
        stuck.cancel()
        await asyncio.gather(stuck, return_exceptions=True)


async def _stuck_client(backend: RunningBackend) -> None:
    """A WebSocket client whose connection never drains: its first frame's send blocks forever.

    Kernel socket buffers would hide a slow reader for megabytes, so the stall is made at the
    ASGI boundary, straight into the running app.
    """
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    incoming.put_nowait({"type": "websocket.receive", "text": '{"hosts":"*"}'})
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        return await incoming.get()

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "websocket.send":
            await never.wait()

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "scheme": "ws",
        "query_string": b"",
        "headers": [(b"cookie", f"hostpulse_session={backend.session}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "subprotocols": [],
        "state": {},
        "app": backend.app,
    }
    await backend.app(scope, receive, send)


def _is(condition: Any) -> Any:
    async def check() -> bool:
        return bool(condition())

    return check


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics")
