"""The assembled app: OpenAPI, health, self-metrics (promtool-clean) and a flushing shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from backend.ingest import json_report
from backend.ingest.limits import IngestLimits
from backend.model import IngestBatch
from tests.backend.running import (
    AUTH,
    RunningBackend,
    agent_report,
    now_ms,
    serve,
    service_settings,
    wait_for,
)
from tests.conftest import require_program

READ_PATHS = ["/api/metrics/recent", "/api/metrics/history", "/api/hosts"]


async def test_openapi_describes_every_endpoint_model_and_error(backend: RunningBackend) -> None:
    spec = (await backend.client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in [*READ_PATHS, "/healthz", "/readyz", "/metrics", "/ingest/metrics"]:
        assert path in paths, path
    for path in READ_PATHS:
        operation = paths[path]["get"]
        assert operation["tags"]
        assert operation["summary"]
        expected = {"200", "401"} if path == "/api/hosts" else {"200", "401", "422"}
        assert expected <= set(operation["responses"]), path
        assert "$ref" in str(operation["responses"]["200"])  # a named response model
    assert "503" in paths["/readyz"]["get"]["responses"]
    assert {t["name"] for t in spec["tags"]} >= {"metrics", "hosts", "live", "health", "ingest"}
    # The WebSocket protocol, both versions, is documented where OpenAPI readers look.
    live = next(t["description"] for t in spec["tags"] if t["name"] == "live")
    for documented in ('"v":2', '"summary":true', '"type":"summaries"', "Version 1", "stale"):
        assert documented in live, documented
    assert {"RecentResponse", "HistoryResponse", "HostsResponse"} <= set(
        spec["components"]["schemas"]
    )
    docs = await backend.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_health_and_readiness(backend: RunningBackend) -> None:
    assert (await backend.client.get("/healthz")).json() == {"status": "ok"}
    ready = await backend.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgresql": "ok", "redis": "ok"}


async def test_readyz_names_an_unreachable_dependency(
    database_url: str, redis_prefix: str, unused_port: Any
) -> None:
    # Redis on a port where nothing listens: the app still starts, serves, and says why not ready.
    dead_redis = f"redis://127.0.0.1:{unused_port()}/0"
    async with serve(service_settings(database_url, dead_redis, redis_prefix)) as backend:
        ready = await backend.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["retry-after"]
        body = ready.json()
        assert body["checks"] == {"postgresql": "ok", "redis": "unreachable"}
        assert body["detail"] == "unreachable: redis"
        # Ingest still succeeds: PostgreSQL is the record.
        response = await backend.client.post(
            "/ingest/metrics", json=agent_report("no-redis"), headers=AUTH
        )
        assert response.status_code == 200, response.text


async def test_self_metrics_are_promtool_clean_and_count_ingest(
    backend: RunningBackend, tmp_path: Any
) -> None:
    promtool = require_program("promtool")
    response = await backend.client.post("/ingest/metrics", json=agent_report("m-1"), headers=AUTH)
    assert response.status_code == 200
    await backend.client.get("/api/hosts")
    metrics = await backend.client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert 'hostpulse_ingest_requests_total{protocol="json"} 1.0' in text
    assert 'hostpulse_ingest_samples_total{protocol="json"}' in text
    assert 'http_route="/api/hosts"' in text
    assert 'http_route="/ingest/metrics"' in text
    for name in (
        "hostpulse_writer_queue_samples",
        "hostpulse_writer_lag_seconds",
        "hostpulse_live_clients",
        "hostpulse_live_dropped_frames_total",
    ):
        assert f"\n{name} " in text, name
    check = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(check.communicate(metrics.content), 30)
    assert out.decode().strip() == "", out.decode()
    assert check.returncode == 0

    openmetrics = await backend.client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")


def to_batch_of(document: dict[str, Any]) -> IngestBatch:
    """The samples the backend makes of an agent document (to count what must be stored)."""
    limits = IngestLimits(max_body_bytes=10_000_000, max_age_ms=86_400_000)
    reports = json_report.translate_document(
        document, now_ms=now_ms(), limits=limits, shape_checked=False
    )
    return json_report.to_batch(reports)


async def test_shutdown_flushes_the_writer(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    # A long flush interval: the samples are still queued when the server is told to stop.
    # Ingest answers only for committed samples: this one is told to retry (503), but what it
    # queued is written at shutdown all the same (the retry then finds it stored).
    settings = service_settings(
        database_url, redis_url, redis_prefix, writer_flush_interval=30, ingest_commit_timeout=0.5
    )
    async with serve(settings) as backend:
        response = await backend.client.post(
            "/ingest/metrics", json=agent_report("flush-1", cores=4), headers=AUTH
        )
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
    accepted = len(to_batch_of(agent_report("flush-1", cores=4)).samples)
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetchval(
            "SELECT count(*) FROM samples JOIN series ON series.id = samples.series_id "
            "WHERE series.host = 'flush-1'"
        )
    finally:
        await connection.close()
    assert stored == accepted > 0


async def test_configured_scrape_targets_are_scraped_and_recorded(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any, unused_port: Any
) -> None:
    # The backend scrapes its own /metrics: a real Prometheus-format target, no extra server.
    port = unused_port()
    target = {"url": f"http://127.0.0.1:{port}/metrics", "interval": "1s", "host": "self"}
    settings = service_settings(database_url, redis_url, redis_prefix, scrape_targets=[target])
    async with serve(settings, port=port) as backend:

        async def up_recorded() -> bool:
            recent = await backend.client.get("/api/metrics/recent", params={"host": "self"})
            return any(s["name"] == "up" and s["value"] == 1 for s in recent.json()["samples"])

        await wait_for(up_recorded, what="the scraper's `up` sample for the target")
