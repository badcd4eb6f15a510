"""Read API through the real app: POST → recent → history round trip, hosts, validation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from backend.api.routes.history import HistoryResponse, parse_time, resolve_range
from backend.api.routes.recent import RecentResponse
from tests.backend.running import (
    AUTH,
    RunningBackend,
    agent_report,
    now_ms,
    serve,
    service_settings,
    wait_for,
)

CPU = "system_cpu_utilization_ratio"


async def test_post_then_recent_then_history_round_trip(backend: RunningBackend) -> None:
    start = now_ms() - 60_000
    for seq in range(1, 4):
        report = agent_report("web-1", seq=seq, time_ms=start + seq * 2000)
        response = await backend.client.post("/ingest/metrics", json=report, headers=AUTH)
        assert response.status_code == 200, response.text

    recent = (await backend.client.get("/api/metrics/recent", params={"host": "web-1"})).json()
    RecentResponse.model_validate(recent)  # the hand-built JSON matches the documented model
    assert recent["host"] == "web-1"
    cpu = [s for s in recent["samples"] if s["name"] == CPU]
    assert len(cpu) == 6  # 3 reports x 2 cores
    core1 = sorted(
        (s["time_ms"], s["value"]) for s in cpu if s["labels"]["cpu_logical_number"] == "1"
    )
    assert core1 == [(start + seq * 2000, pytest.approx(0.2)) for seq in range(1, 4)]
    assert recent["processes"][-1]["processes"][0]["name"] == "proc-1"

    params = {
        "host": "web-1",
        "metric": CPU,
        "from": str((start - 1000) / 1000),
        "to": _rfc3339(start + 10_000),
    }

    async def history_complete() -> bool:
        body = (await backend.client.get("/api/metrics/history", params=params)).json()
        return sum(len(s["points"]) for s in body["series"]) == 6

    await wait_for(history_complete, what="the writer to store 6 CPU samples")
    body = (await backend.client.get("/api/metrics/history", params=params)).json()
    HistoryResponse.model_validate(body)
    assert body["resolution"] == "raw"
    step_ms = body["step_seconds"] * 1000
    by_core = {s["labels"]["cpu_logical_number"]: s["points"] for s in body["series"]}
    assert [(p["time_ms"], p["avg"], p["count"]) for p in by_core["0"]] == [
        ((start + seq * 2000) // step_ms * step_ms, pytest.approx(0.1), 1) for seq in range(1, 4)
    ]


async def test_unknown_host_has_empty_recent_and_history(backend: RunningBackend) -> None:
    recent = await backend.client.get("/api/metrics/recent", params={"host": "nobody"})
    assert recent.status_code == 200
    assert recent.json()["samples"] == []
    history = await backend.client.get(
        "/api/metrics/history", params={"host": "nobody", "metric": CPU}
    )
    assert history.status_code == 200
    assert history.json()["series"] == []


BAD_HISTORY_QUERIES = [
    ({"metric": CPU}, "host"),
    ({"host": "h"}, "metric"),
    ({"host": "h", "metric": CPU, "from": "yesterday"}, "from: 'yesterday' is neither"),
    (
        {"host": "h", "metric": CPU, "to": "2024-05-01T12:00:00"},
        "to: '2024-05-01T12:00:00' has no timezone",
    ),
    ({"host": "h", "metric": CPU, "step": "fast"}, "step: 'fast' is not a duration"),
    ({"host": "h", "metric": CPU, "step": "0s"}, "step: '0s' must be a positive"),
    ({"host": "h", "metric": CPU, "from": "200", "to": "100"}, "from: must be earlier"),
    ({"host": "h", "metric": CPU, "label": "novalue"}, "label: 'novalue' must look like"),
]


async def test_history_refuses_bad_parameters_naming_them(backend: RunningBackend) -> None:
    for params, detail in BAD_HISTORY_QUERIES:
        response = await backend.client.get("/api/metrics/history", params=params)
        assert response.status_code == 422, params
        assert detail in str(response.json()["detail"]), params


async def test_hosts_are_up_then_stale(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    settings = service_settings(database_url, redis_url, redis_prefix, host_stale_after=0.5)
    async with serve(settings) as backend:
        for host in ("quiet-1", "fresh-1"):
            report = agent_report(host, instance=host)
            response = await backend.client.post("/ingest/metrics", json=report, headers=AUTH)
            assert response.status_code == 200, response.text
            if host == "quiet-1":
                await asyncio.sleep(1.0)  # the stale threshold must pass; 2x margin
        body = (await backend.client.get("/api/hosts")).json()
    assert body["stale_after_seconds"] == 0.5
    hosts = {h["name"]: h for h in body["hosts"]}
    assert hosts["fresh-1"]["status"] == "up"
    assert hosts["quiet-1"]["status"] == "stale"
    assert hosts["fresh-1"]["last_seen"].endswith("Z")


def test_times_are_rfc3339_or_unix_seconds() -> None:
    assert parse_time("2024-05-01T12:00:00Z", "from") == 1714564800000
    assert parse_time("2024-05-01T14:00:00+02:00", "from") == 1714564800000
    assert parse_time("1714564800.5", "from") == 1714564800500
    assert resolve_range(None, None, now_ms=10_000_000) == (10_000_000 - 3_600_000, 10_000_000)
    with pytest.raises(ValueError, match="at most 400 days"):
        resolve_range("0", "1714564800", now_ms=0)


def _rfc3339(time_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
