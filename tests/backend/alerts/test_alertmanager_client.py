"""Our alerts reach a real Alertmanager through its v2 API, and it delivers them to its own
webhook receiver (Debian's prometheus-alertmanager)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.alerts.settings import AlertingSettings
from tests.backend.running import AUTH, running_services, serve, service_settings, wait_for
from tests.conftest import free_port, require_program

from .receiver import WebhookReceiver, webhook_receiver
from .support import admin_headers, cpu_report, evaluator_leading

pytestmark = [pytest.mark.slow, pytest.mark.external]

AM_CONFIG = """
route:
  receiver: hook
  group_by: [alertname, host]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
"""

RULES = """
rules:
  - name: AgentStale
    kind: absent
    for: 2s
    labels: {severity: critical}
    annotations: {summary: "No data from {{ $labels.host }}"}
"""


@contextlib.asynccontextmanager
async def alertmanager(tmp_path: Path, receiver: WebhookReceiver) -> AsyncIterator[str]:
    program = require_program("prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(AM_CONFIG.format(url=receiver.url))
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        program,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/-/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(ready, within=20, what="alertmanager to be ready")
        yield url
    finally:
        process.terminate()
        await process.wait()


async def test_alertmanager_receives_our_alerts_and_delivers_them_to_its_receiver(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(RULES)
    admin = await admin_headers(database_url)
    async with (
        webhook_receiver() as receiver,
        webhook_receiver() as ours,
        alertmanager(tmp_path, receiver) as am_url,
    ):
        alerting = AlertingSettings(
            rules_file=rules_file,
            load_defaults=False,
            alertmanager_urls=[am_url],
            alertmanager_resend=1.0,
        )
        settings = service_settings(database_url, redis_url, redis_prefix, alerting=alerting)
        async with serve(settings) as backend:
            await evaluator_leading(backend)
            hook = {"name": "direct", "url": ours.url}
            created = await backend.client.post("/api/webhooks", json=hook, headers=admin)
            assert created.status_code == 201, created.text
            response = await backend.client.post(
                "/ingest/metrics", json=cpu_report("am-1", idle=0.5), headers=AUTH
            )
            assert response.status_code == 200, response.text

            async def firing() -> bool:
                return bool(receiver.alerts("firing"))

            await wait_for(firing, within=20, what="Alertmanager's webhook for the firing alert")
            async with httpx.AsyncClient(base_url=am_url) as am:
                listed = (await am.get("/api/v2/alerts")).json()
            assert [a["labels"]["alertname"] for a in listed] == ["AgentStale"]
            assert listed[0]["labels"]["host"] == "am-1"
            assert listed[0]["annotations"]["summary"] == "No data from am-1"

            async def resent() -> bool:
                # The first send plus periodic re-sends of the still-firing alert, each recorded.
                sent = await running_services(backend).pool.fetchval(
                    "SELECT count(*) FROM notification_deliveries "
                    "WHERE target_kind = 'alertmanager' AND state = 'delivered'"
                )
                return bool(sent >= 3)

            await wait_for(resent, within=20, what="firing alerts re-sent to Alertmanager")

            response = await backend.client.post(
                "/ingest/metrics", json=cpu_report("am-1", idle=0.5), headers=AUTH
            )
            assert response.status_code == 200

            async def resolved() -> bool:
                return bool(receiver.alerts("resolved"))

            await wait_for(resolved, within=20, what="Alertmanager's webhook for the resolve")
    alert = receiver.alerts("firing")[0]
    assert alert["labels"] == {"alertname": "AgentStale", "host": "am-1", "severity": "critical"}
    assert receiver.received[0].body["receiver"] == "hook"
    # Our own webhook body has exactly the shape Alertmanager's has, so its receivers parse it.
    assert shape(ours.received[0].body) == shape(receiver.received[0].body)
    assert ours.alerts("firing")[0]["fingerprint"] == alert["fingerprint"]


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively (list items by their first element)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__
