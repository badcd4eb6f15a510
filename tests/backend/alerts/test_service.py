"""Alerting through the running app: agent reports in, transitions recorded, webhooks out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from backend.alerts.settings import AlertingSettings
from backend.notify.senders import signature
from tests.backend.running import (
    AUTH,
    RunningBackend,
    now_ms,
    serve,
    service_settings,
    wait_for,
)

from .receiver import WebhookReceiver, webhook_receiver
from .support import admin_headers, cpu_report, evaluator_leading

pytestmark = pytest.mark.slow

STALE_RULES = """
rules:
  - name: AgentStale
    kind: absent
    for: 2s
    labels: {severity: critical}
    annotations: {summary: "No data from {{ $labels.host }}"}
"""


@pytest.fixture
async def alerting_backend(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any, tmp_path: Path
) -> AsyncIterator[RunningBackend]:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(STALE_RULES)
    alerting = AlertingSettings(rules_file=rules_file, retry_initial=0.2, retry_max=1.0)
    settings = service_settings(database_url, redis_url, redis_prefix, alerting=alerting)
    async with serve(settings) as backend:
        await evaluator_leading(backend)
        yield backend


async def add_webhook(backend: RunningBackend, admin: dict[str, str], url: str) -> dict[str, Any]:
    response = await backend.client.post(
        "/api/webhooks",
        json={"name": "ops", "url": url, "generate_secret": True},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def post(backend: RunningBackend, report: dict[str, Any]) -> None:
    response = await backend.client.post("/ingest/metrics", json=report, headers=AUTH)
    assert response.status_code == 200, response.text


async def wait_alerts(
    receiver: WebhookReceiver, status: str, count: int, rule: str | None = None
) -> None:
    async def arrived() -> bool:
        return len(receiver.alerts(status, rule)) >= count

    await wait_for(arrived, within=20, what=f"{count} {status} webhook alert(s)")


async def test_cpu_above_threshold_for_10s_fires_once_flaps_quietly_and_resolves_once(
    alerting_backend: RunningBackend, database_url: str
) -> None:
    backend = alerting_backend
    admin = await admin_headers(database_url)
    async with webhook_receiver() as receiver:
        hook = await add_webhook(backend, admin, receiver.url)
        start = now_ms() - 20_000
        # Busy 95 % for 12 s (one report a second, timestamps in the recent past)...
        for i in range(13):
            await post(backend, cpu_report("cpu-1", idle=0.05, time_ms=start + i * 1000))
        await wait_alerts(receiver, "firing", 1, "HighCpu")
        # ...then idle flapping between 5 % and 15 %: under the 20 % resolve threshold, so quiet...
        for i in range(13, 19):
            idle = 0.05 if i % 2 else 0.15
            await post(backend, cpu_report("cpu-1", idle=idle, time_ms=start + i * 1000))
        # ...then idle again.
        for i in range(19, 21):
            await post(backend, cpu_report("cpu-1", idle=0.6, time_ms=start + i * 1000))
        await wait_alerts(receiver, "resolved", 1, "HighCpu")
        await asyncio.sleep(1.5)  # anything extra would arrive within the next ticks
        assert [a["status"] for a in receiver.alerts(rule="HighCpu")] == ["firing", "resolved"]

        # (The past timestamps also make the 2 s stale rule fire; only HighCpu matters here.)
        firing, resolved = [
            r for r in receiver.received if r.body["alerts"][0]["labels"]["alertname"] == "HighCpu"
        ]
        body = firing.body
        assert body["version"] == "4"
        assert body["receiver"] == "hostpulse"
        alert = body["alerts"][0]
        assert alert["labels"]["alertname"] == "HighCpu"
        assert alert["labels"]["host"] == "cpu-1"
        assert alert["labels"]["severity"] == "warning"
        assert alert["annotations"]["summary"] == "High CPU on cpu-1"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
        assert resolved.body["alerts"][0]["fingerprint"] == alert["fingerprint"]
        assert resolved.body["alerts"][0]["startsAt"] == alert["startsAt"]
        # The generated secret signs each body.
        assert firing.headers["x-hostpulse-signature"] == signature(hook["secret"], firing.raw)

    history = await backend.client.get(
        "/api/alerts/history", params={"host": "cpu-1", "rule": "HighCpu"}, headers=admin
    )
    assert history.status_code == 200, history.text
    moves = [(t["from_state"], t["to_state"]) for t in reversed(history.json()["transitions"])]
    assert moves == [("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]
    listed = (await backend.client.get("/api/webhooks", headers=admin)).json()["webhooks"]
    assert "secret" not in listed[0]
    assert listed[0]["has_secret"] is True


async def test_a_silent_agent_raises_stale_and_its_return_resolves_it(
    alerting_backend: RunningBackend, database_url: str
) -> None:
    backend = alerting_backend
    admin = await admin_headers(database_url)
    ws_headers = {"Authorization": admin["Authorization"]}
    async with (
        webhook_receiver() as receiver,
        connect(backend.ws_url, additional_headers=ws_headers) as ws,
    ):
        await add_webhook(backend, admin, receiver.url)
        await ws.send('{"type":"subscribe","hosts":"*"}')
        await post(backend, cpu_report("quiet-1", idle=0.5))
        await wait_alerts(receiver, "firing", 1)
        assert receiver.alerts()[0]["labels"]["alertname"] == "AgentStale"

        current = (await backend.client.get("/api/alerts", headers=admin)).json()["alerts"]
        assert [(a["rule"], a["labels"]["host"], a["state"]) for a in current] == [
            ("AgentStale", "quiet-1", "firing")
        ]
        await post(backend, cpu_report("quiet-1", idle=0.5))
        await wait_alerts(receiver, "resolved", 1)

        seen: list[dict[str, Any]] = []
        while len(seen) < 2:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "alert":
                seen.append(message)
        assert [(m["rule"], m["host"], m["to"]) for m in seen] == [
            ("AgentStale", "quiet-1", "firing"),
            ("AgentStale", "quiet-1", "resolved"),
        ]


async def test_a_muted_host_is_recorded_but_not_notified(
    alerting_backend: RunningBackend, database_url: str
) -> None:
    backend = alerting_backend
    admin = await admin_headers(database_url)
    async with webhook_receiver() as receiver:
        await add_webhook(backend, admin, receiver.url)
        until = "2999-01-01T00:00:00Z"
        muted = await backend.client.post(
            "/api/alerts/mutes", json={"host": "muted-1", "until": until}, headers=admin
        )
        assert muted.status_code == 201, muted.text
        await asyncio.sleep(1.5)  # the evaluator reloads mutes every tick
        await post(backend, cpu_report("muted-1", idle=0.5))
        await post(backend, cpu_report("loud-1", idle=0.5))
        await wait_alerts(receiver, "firing", 1)
        await asyncio.sleep(1.0)
        assert [a["labels"]["host"] for a in receiver.alerts()] == ["loud-1"]
    history = await backend.client.get(
        "/api/alerts/history", params={"host": "muted-1"}, headers=admin
    )
    assert [t["muted"] for t in history.json()["transitions"]] == [True]
