"""`/ws` protocol version 2 through the real app (PostgreSQL, Redis, uvicorn): fleet clients get
one small summary per host and no full frames; host clients get only their host's frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from backend.alerts.settings import AlertingSettings
from tests.backend.running import (
    AUTH,
    RunningBackend,
    agent_report,
    now_ms,
    serve,
    service_settings,
)

HOT_RULES = """
rules:
  - name: Hot
    metric: system_cpu_utilization_ratio
    matchers: {cpu_mode: idle}
    op: "<"
    threshold: 0.5
    for: 0s
    labels: {severity: critical}
"""


@pytest.fixture
async def fleet_backend(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any, tmp_path: Path
) -> AsyncIterator[RunningBackend]:
    rules = tmp_path / "rules.yml"
    rules.write_text(HOT_RULES)
    settings = service_settings(
        database_url,
        redis_url,
        redis_prefix,
        host_stale_after=3.0,
        live_summary_flush=0.1,
        alerting=AlertingSettings(rules_file=rules, load_defaults=False),
    )
    async with serve(settings) as backend:
        yield backend


def sixteen_core_report(host: str, *, idle: float = 0.8, seq: int = 1) -> dict[str, Any]:
    """A realistic report: 16 cores, CPU per mode, memory with its limit, load, top-5 processes
    with real-looking names."""
    document = agent_report(host, seq=seq, cores=16, instance=host)
    report = document["reports"][0]
    report["metrics"] += [
        {
            "name": "system.cpu.utilization",
            "unit": "1",
            "type": "gauge",
            "points": [
                {"attributes": {"cpu.mode": "idle"}, "value": idle},
                {"attributes": {"cpu.mode": "user"}, "value": 1 - idle},
            ],
        },
        {
            "name": "system.memory.limit",
            "unit": "By",
            "type": "updowncounter",
            "points": [{"attributes": {}, "value": 4e9}],
        },
        {
            "name": "system.cpu.load_average.1m",
            "unit": "{thread}",
            "type": "gauge",
            "points": [{"attributes": {}, "value": 3.14159}],
        },
    ]
    template = report["processes"][0]
    names = ["postgres: checkpointer", "java", "nginx: worker process", "redis-server", "sshd"]
    report["processes"] = [
        {**template, "rank": rank, "pid": 4000 + rank, "name": name, "cpu_utilization": 0.9 / rank}
        for rank, name in enumerate(names, start=1)
    ]
    return document


async def post(backend: RunningBackend, document: dict[str, Any]) -> None:
    response = await backend.client.post("/ingest/metrics", json=document, headers=AUTH)
    assert response.status_code == 200, response.text


async def subscribe(ws: ClientConnection, **fields: Any) -> dict[str, Any]:
    await ws.send(orjson.dumps({"type": "subscribe", "v": 2, **fields}).decode())
    while True:
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        if reply["type"] != "alert":
            assert reply["type"] == "subscribed", reply
            return dict(reply)


class Received:
    """Everything a client received, by type; `until` waits for a condition on it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.raw_summaries: list[bytes] = []

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def latest(self, host: str) -> dict[str, Any] | None:
        found = None
        for message in self.of("summaries"):
            for summary in message["hosts"]:
                if summary["host"] == host:
                    found = summary
        return found

    async def until(self, condition: Any, what: str, within: float = 15.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not condition():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                pytest.fail(f"timed out waiting for {what}; got {self.messages[-5:]}")
            try:
                text = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                continue
            raw = text.encode() if isinstance(text, str) else text
            message = orjson.loads(raw)
            if message["type"] == "summaries":
                self.raw_summaries += [orjson.dumps(h) for h in message["hosts"]]
            self.messages.append(message)


async def test_a_fleet_client_gets_each_hosts_latest_summary_and_no_frames(
    fleet_backend: RunningBackend,
) -> None:
    backend = fleet_backend
    await post(backend, sixteen_core_report("db-1", idle=0.9, seq=1))  # known before it connects
    async with connect(backend.ws_url, additional_headers=backend.ws_headers) as ws:
        reply = await subscribe(ws, summary=True)
        assert reply == {"type": "subscribed", "v": 2, "hosts": [], "summary": True}
        seen = Received(ws)
        await seen.until(lambda: seen.latest("db-1") is not None, "db-1 in the first snapshot")
        assert seen.of("summaries")[0]["full"] is True

        before = now_ms()
        await post(backend, sixteen_core_report("db-1", idle=0.7, seq=2))
        await post(backend, sixteen_core_report("web-1", idle=0.9, seq=1))

        def both_current() -> bool:
            db, web = seen.latest("db-1"), seen.latest("web-1")
            return db is not None and db["seen_ms"] >= before and web is not None

        await seen.until(both_current, "summaries of the second report and of web-1")
        db = seen.latest("db-1")
        assert db is not None
        # The latest report: CPU 1 - idle (per-mode shares win over the per-core mean), memory
        # used / limit, load, the rank-1 process; up, and no alerts yet.
        assert db["cpu"] == pytest.approx(0.3)
        assert db["mem"] == pytest.approx(0.25)
        assert db["mem_used"] == 1e9
        assert db["load"] == 3.14
        assert db["top"] == {"name": "postgres: checkpointer", "pid": 4001, "cpu": 0.9}
        assert (db["status"], db["firing"], db["pending"]) == ("up", 0, 0)
        assert before <= db["seen_ms"] <= now_ms()
        assert not seen.of("samples"), "a fleet client must not receive full frames"
        # A few hundred bytes at most for a realistic 16-core, top-5 report (a full frame of the
        # same report is ~4 KB).
        assert max(len(raw) for raw in seen.raw_summaries) <= 300


async def test_a_host_turning_hot_counts_its_firing_alert_and_a_silent_one_turns_stale(
    fleet_backend: RunningBackend,
) -> None:
    backend = fleet_backend
    async with connect(backend.ws_url, additional_headers=backend.ws_headers) as ws:
        await subscribe(ws, summary=True)
        seen = Received(ws)
        await post(backend, sixteen_core_report("hot-1", idle=0.1))
        await post(backend, sixteen_core_report("calm-1", idle=0.9))

        def hot_firing_and_calm_seen() -> bool:
            # The alert transition may reach a flush before calm-1's report does: wait for both.
            hot = seen.latest("hot-1")
            return hot is not None and hot["firing"] == 1 and seen.latest("calm-1") is not None

        await seen.until(
            hot_firing_and_calm_seen, "hot-1 to count one firing alert, and calm-1", within=20
        )
        calm = seen.latest("calm-1")
        assert calm is not None
        assert calm["firing"] == 0

        # Nothing more from either: after `host_stale_after` (3 s) both are marked stale.
        def both_stale() -> bool:
            return all(
                (s := seen.latest(h)) and s["status"] == "stale" for h in ("hot-1", "calm-1")
            )

        await seen.until(both_stale, "both hosts marked stale")

    # A client connecting now gets the alert counts and staleness in its first snapshot.
    async with connect(backend.ws_url, additional_headers=backend.ws_headers) as ws:
        await subscribe(ws, summary=True)
        late = Received(ws)
        await late.until(lambda: late.latest("hot-1") is not None, "the snapshot")
        hot = late.latest("hot-1")
        assert hot is not None
        assert (hot["status"], hot["firing"]) == ("stale", 1)


async def test_a_host_client_gets_only_its_hosts_frames_and_switching_resubscribes(
    fleet_backend: RunningBackend,
) -> None:
    backend = fleet_backend
    async with connect(backend.ws_url, additional_headers=backend.ws_headers) as ws:
        reply = await subscribe(ws, hosts=["web-1"])
        assert (reply["hosts"], reply["summary"]) == (["web-1"], False)
        seen = Received(ws)
        await post(backend, sixteen_core_report("web-2", seq=1))
        await post(backend, sixteen_core_report("web-1", seq=1))
        await seen.until(lambda: bool(seen.of("samples")), "web-1's frame")
        assert [f["host"] for f in seen.of("samples")] == ["web-1"]

        await subscribe(ws, hosts=["web-2"])  # the host view moved to web-2
        seen.messages.clear()
        await post(backend, sixteen_core_report("web-1", seq=2))
        await post(backend, sixteen_core_report("web-2", seq=2))
        await seen.until(lambda: bool(seen.of("samples")), "web-2's frame")
        assert [f["host"] for f in seen.of("samples")] == ["web-2"]
        assert not seen.of("summaries"), "a host client must not receive fleet summaries"


async def test_version_1_subscriptions_still_work_and_unknown_versions_are_refused(
    fleet_backend: RunningBackend,
) -> None:
    backend = fleet_backend
    async with connect(backend.ws_url, additional_headers=backend.ws_headers) as ws:
        await ws.send('{"type":"subscribe","v":3,"summary":true}')
        error = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["type"] == "error"
        assert "unsupported protocol version 3" in error["detail"]
        await ws.send('{"type":"subscribe","hosts":"*"}')  # an older dashboard
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == {
            "type": "subscribed",
            "hosts": "*",
        }
        seen = Received(ws)
        await post(backend, sixteen_core_report("old-1"))
        await seen.until(lambda: bool(seen.of("samples")), "old-1's frame")
        assert not seen.of("summaries")
