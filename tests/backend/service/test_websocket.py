"""Live fan-out: the /ws protocol, host filtering, bad messages, and slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from backend.live.hub import ClientTooSlow, LiveHub
from backend.live.messages import (
    ALL_HOSTS,
    ClientMessageError,
    Ping,
    Subscribe,
    encode_frames,
    frame_host,
    join_frames,
    parse_client_message,
)
from backend.live.redis_bridge import BatchPublisher, LiveFrames
from backend.model import IngestBatch, ProcessSnapshot, Sample

from .conftest import (
    AUTH,
    RunningBackend,
    agent_report,
    now_ms,
    serve,
    service_settings,
    wait_for,
)

# --- the pure protocol -------------------------------------------------------------------------


def test_client_messages_parse_or_explain() -> None:
    assert parse_client_message('{"type":"subscribe","hosts":["web-1"]}') == Subscribe(
        frozenset({"web-1"})
    )
    assert parse_client_message('{"hosts":"*"}') == Subscribe(ALL_HOSTS)
    assert parse_client_message('{"type":"ping"}') == Ping()
    for bad, reason in [
        ("not json", "not valid JSON"),
        ("[1]", "JSON object"),
        ('{"type":"dance"}', "type: unknown message type"),
        ('{"type":"subscribe","hosts":"web-1"}', r"hosts: must be '\*' or a list"),
        ('{"type":"subscribe","hosts":[1]}', "hosts: each host"),
    ]:
        with pytest.raises(ClientMessageError, match=reason):
            parse_client_message(bad)


def test_frames_are_one_per_host_with_the_latest_process_table() -> None:
    batch = IngestBatch(
        protocol="remote_write",
        samples=[
            Sample("b", "up", {"job": "x"}, 1000, 1.0),
            Sample("a", "up", {}, 1000, 0.0),
        ],
        process_snapshots=[
            ProcessSnapshot("a", 900, [{"pid": 1}]),
            ProcessSnapshot("a", 1000, [{"pid": 2}]),
        ],
    )
    frames = [orjson.loads(f) for f in encode_frames(batch, accepted_ms=1234)]
    assert [f["host"] for f in frames] == ["a", "b"]
    assert frames[0] == {
        "type": "samples",
        "host": "a",
        "accepted_ms": 1234,
        "samples": [{"name": "up", "labels": {}, "time_ms": 1000, "value": 0.0}],
        "processes": {"time_ms": 1000, "processes": [{"pid": 2}]},
    }
    assert frames[1]["processes"] is None


async def test_a_full_queue_skips_the_oldest_frames_and_a_stuck_client_is_closed() -> None:
    hub = LiveHub(client_queue=3, close_after_drops=5)
    stuck, reader = hub.connect(), hub.connect()
    stuck.subscription = reader.subscription = ALL_HOSTS
    frames = [encode_frames(_batch(i), accepted_ms=i)[0] for i in range(8)]
    received = []
    for frame in frames:
        hub.dispatch(frame)
        received.append(orjson.loads(await reader.next_frame())["accepted_ms"])
    assert received == list(range(8))  # the reader is never held back by the stuck client
    assert stuck.dropped == 5
    with pytest.raises(ClientTooSlow):
        await stuck.next_frame()


async def test_one_message_of_a_batchs_frames_reaches_each_client_per_its_hosts() -> None:
    hub = LiveHub()
    everything, only_b = hub.connect(), hub.connect()
    everything.subscription, only_b.subscription = ALL_HOSTS, frozenset({"b"})
    batch = IngestBatch("json", [Sample("a", "up", {}, 1, 1.0), Sample("b", "up", {}, 1, 2.0)])
    hub.dispatch(join_frames(encode_frames(batch, accepted_ms=7)))
    assert [orjson.loads(await everything.next_frame())["host"] for _ in range(2)] == ["a", "b"]
    assert orjson.loads(await only_b.next_frame())["samples"][0]["value"] == 2.0
    assert hub.frames_dispatched == 2


def test_the_host_is_read_from_the_frames_head_only() -> None:
    tricky = Sample('web-1",\n"samples', 'm",\n"samples":[', {"k": ',"samples"'}, 1, 0.5)
    (frame,) = encode_frames(IngestBatch("json", [tricky]), accepted_ms=1)
    assert frame_host(frame) == 'web-1",\n"samples'
    assert frame_host(b"not json") is None
    assert frame_host(b'{"type":"alert","host":"a","samples":[]}') is None
    assert frame_host(b'{"type":"samples","host":7,"samples":[]}') is None


def _batch(i: int) -> IngestBatch:
    return IngestBatch("json", [Sample("h", "m", {}, i, float(i))])


class CountingRedis:
    def __init__(self, receivers: int) -> None:
        self.receivers = receivers
        self.published = 0

    async def publish(self, channel: str, frame: bytes) -> int:
        self.published += 1
        return self.receivers


async def test_publishing_pauses_while_nobody_listens_anywhere() -> None:
    redis = CountingRedis(receivers=0)
    local = {"clients": False}
    live = LiveFrames("live", local_listeners=lambda: local["clients"], idle_recheck=0.2)
    publisher = BatchPublisher(redis, [live])  # type: ignore[arg-type]
    await publisher.publish(_batch(1))
    await publisher.publish(_batch(2))
    assert redis.published == 1  # PUBLISH reached nobody: the next one is skipped
    local["clients"] = True
    await publisher.publish(_batch(3))
    assert redis.published == 2  # a client of this process never waits for the recheck
    local["clients"] = False
    await asyncio.sleep(0.25)
    redis.receivers = 1
    await publisher.publish(_batch(4))
    await publisher.publish(_batch(5))
    assert redis.published == 4


def test_the_hub_tells_when_it_has_clients() -> None:
    hub = LiveHub()
    assert not hub.has_clients.is_set()
    client = hub.connect()
    assert hub.has_clients.is_set()
    hub.disconnect(client)
    assert not hub.has_clients.is_set()


# --- through the real app ----------------------------------------------------------------------


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
            hub: LiveHub = backend.app.state.live_hub
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
