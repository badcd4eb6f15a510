"""The alerting HTTP API: rule CRUD (admin only), current alerts, history pages, mutes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from backend.alerts.settings import AlertingSettings
from tests.backend.auth.support import make_user, session_for
from tests.backend.running import (
    AUTH,
    RunningBackend,
    serve,
    service_settings,
    wait_for,
)

from .receiver import webhook_receiver
from .support import admin_headers, cpu_report, evaluator_leading

pytestmark = pytest.mark.slow

BUSY_RULE = {
    "name": "BusyUser",
    "metric": "system_cpu_utilization_ratio",
    "matchers": {"cpu_mode": "user"},
    "op": ">",
    "threshold": 0.8,
    "for": "0s",
    "labels": {"severity": "page"},
    "annotations": {"summary": "user CPU {{ $value }} on {{ $labels.host }}"},
}


@pytest.fixture
async def backend(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> AsyncIterator[RunningBackend]:
    alerting = AlertingSettings(retry_initial=0.2, retry_max=1.0)
    settings = service_settings(database_url, redis_url, redis_prefix, alerting=alerting)
    async with serve(settings, log_in=False) as running:
        await evaluator_leading(running)
        yield running


async def test_rule_and_webhook_routes_need_an_admin_and_reads_need_a_user(
    backend: RunningBackend, database_url: str
) -> None:
    viewer = await make_user(database_url, "viewer-1", "viewer")
    as_viewer = {"Authorization": f"Bearer {await session_for(database_url, viewer)}"}
    admin_only = [
        ("GET", "/api/alert-rules"),
        ("POST", "/api/alert-rules"),
        ("GET", "/api/alert-rules/1"),
        ("PUT", "/api/alert-rules/1"),
        ("DELETE", "/api/alert-rules/1"),
        ("POST", "/api/alert-rules/1/disable"),
        ("GET", "/api/webhooks"),
        ("POST", "/api/webhooks"),
        ("DELETE", "/api/webhooks/1"),
        ("POST", "/api/alerts/mutes"),
    ]
    for method, path in admin_only:
        anonymous = await backend.client.request(method, path, json={})
        assert anonymous.status_code == 401, (method, path)
        refused = await backend.client.request(method, path, json={}, headers=as_viewer)
        assert refused.status_code == 403, (method, path)
    for path in ("/api/alerts", "/api/alerts/history", "/api/alerts/mutes"):
        assert (await backend.client.get(path)).status_code == 401, path
        assert (await backend.client.get(path, headers=as_viewer)).status_code == 200, path


async def test_rule_crud_validates_and_names_what_is_wrong(
    backend: RunningBackend, database_url: str
) -> None:
    admin = await admin_headers(database_url)
    client = backend.client
    listed = (await client.get("/api/alert-rules", headers=admin)).json()["rules"]
    assert {r["name"]: r["source"] for r in listed} == {
        "HighCpu": "defaults",
        "HighMemory": "defaults",
        "ManyOpenFileHandles": "defaults",
        "AgentStale": "defaults",
    }
    created = await client.post("/api/alert-rules", json=BUSY_RULE, headers=admin)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["for"], rule["source"], rule["enabled"]) == ("0s", "api", True)
    again = await client.post("/api/alert-rules", json=BUSY_RULE, headers=admin)
    assert again.status_code == 409
    bad = await client.post("/api/alert-rules", json={**BUSY_RULE, "for": "soon"}, headers=admin)
    assert bad.status_code == 422
    assert "for" in str(bad.json()["detail"])

    url = f"/api/alert-rules/{rule['id']}"
    changed = await client.put(url, json={**BUSY_RULE, "threshold": 0.7}, headers=admin)
    assert changed.json()["threshold"] == 0.7
    assert (await client.post(f"{url}/disable", headers=admin)).json()["enabled"] is False
    assert (await client.get(url, headers=admin)).json()["enabled"] is False
    assert (await client.post(f"{url}/enable", headers=admin)).json()["enabled"] is True
    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.get(url, headers=admin)).status_code == 404
    assert (await client.delete(url, headers=admin)).status_code == 404


async def test_disabling_a_firing_rule_resolves_it_and_history_pages_with_a_cursor(
    backend: RunningBackend, database_url: str
) -> None:
    admin = await admin_headers(database_url)
    client = backend.client
    async with webhook_receiver() as receiver:
        hook = {"name": "ops", "url": receiver.url, "send_resolved": True}
        assert (await client.post("/api/webhooks", json=hook, headers=admin)).status_code == 201
        rule = (await client.post("/api/alert-rules", json=BUSY_RULE, headers=admin)).json()

        async def fired() -> bool:
            # Rules reload every tick: post until the new rule is in force.
            report = cpu_report("busy-1", idle=0.05)
            assert (await client.post("/ingest/metrics", json=report, headers=AUTH)).is_success
            return bool(receiver.alerts("firing", "BusyUser"))

        await wait_for(fired, what="the BusyUser firing webhook")
        current = (await client.get("/api/alerts", headers=admin)).json()["alerts"]
        assert ("BusyUser", "firing") in [(a["rule"], a["state"]) for a in current]
        [notified] = receiver.alerts("firing", "BusyUser")
        assert notified["annotations"]["summary"] == "user CPU 0.95 on busy-1"
        assert notified["labels"]["severity"] == "page"

        await client.post(f"/api/alert-rules/{rule['id']}/disable", headers=admin)

        async def resolved() -> bool:
            return bool(receiver.alerts("resolved", "BusyUser"))

        await wait_for(resolved, what="the resolved webhook after disabling the rule")
    current = (await client.get("/api/alerts", headers=admin)).json()["alerts"]
    assert "BusyUser" not in [a["rule"] for a in current]

    pages: list[list[tuple[str, str]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"rule": "BusyUser", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/alerts/history", params=params, headers=admin)).json()
        pages.append([(t["to_state"], t["reason"]) for t in page["transitions"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages[0] == [("resolved", "rule disabled"), ("firing", "condition met")]
    assert sum(len(p) for p in pages) == 2
    none = await client.get(
        "/api/alerts/history", params={"rule": "BusyUser", "severity": "info"}, headers=admin
    )
    assert none.json()["transitions"] == []


async def test_mutes_are_validated_listed_and_removed(
    backend: RunningBackend, database_url: str
) -> None:
    admin = await admin_headers(database_url)
    client = backend.client
    past = await client.post(
        "/api/alerts/mutes", json={"host": "h", "until": "2001-01-01T00:00:00Z"}, headers=admin
    )
    assert past.status_code == 422
    assert "until" in past.text
    made = await client.post(
        "/api/alerts/mutes",
        json={"host": "h", "rule": "HighCpu", "until": "2999-01-01T00:00:00Z", "comment": "x"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    listed = (await client.get("/api/alerts/mutes", headers=admin)).json()["mutes"]
    assert [(m["host"], m["rule"]) for m in listed] == [("h", "HighCpu")]
    gone = await client.delete(f"/api/alerts/mutes/{made.json()['id']}", headers=admin)
    assert gone.status_code == 204
    assert (await client.get("/api/alerts/mutes", headers=admin)).json()["mutes"] == []
