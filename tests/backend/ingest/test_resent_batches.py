"""A batch sent again (a sender's retry after a lost answer) is stored once, on every protocol.

The real app on uvicorn, real PostgreSQL and Redis: the same remote_write request posted twice,
the same OTLP request posted twice, and the agent's JSON batch re-sent (once as the same batch,
which the Redis duplicate check catches, once as the same reports under new sequence numbers, as
an agent that lost its state would send them, which only storage can catch). History, rollups and
row counts show each sample once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from pydantic import SecretStr

from backend.settings import BackendSettings
from backend.storage.rollups import refresh_all_rollups
from tests.backend.ingest.ingest_support import (
    BOOTSTRAP_TOKEN,
    document,
    now_ms,
    running_backend,
    viewer_cookies,
)
from tests.backend.ingest.test_otlp import gauge, request_with
from tests.backend.ingest.test_remote_write import snappy, write_request
from tests.conftest import free_port

pytestmark = pytest.mark.usefixtures("sync_cleanup_redis")
HEADERS = {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"}


@pytest.fixture
async def backend(database_url: str, redis_prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = BackendSettings(
        database_url=database_url,
        redis_prefix=redis_prefix,
        port=free_port(),
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
        writer_flush_interval=0.02,
    )
    async with running_backend(settings) as base_url:
        cookies = await viewer_cookies(database_url)
        async with httpx.AsyncClient(base_url=base_url, cookies=cookies, timeout=30) as client:
            yield client


async def stored(database_url: str, host: str) -> tuple[int, int]:
    """(rows in the head for `host`, the sum of its 1-minute rollups' counts)."""
    conn = await asyncpg.connect(database_url)
    try:
        await refresh_all_rollups(conn)
        rows = await conn.fetchval(
            "SELECT count(*) FROM samples s JOIN series r ON r.id = s.series_id WHERE r.host = $1",
            host,
        )
        rolled = await conn.fetchval(
            "SELECT coalesce(sum(count), 0) FROM rollup_1m s JOIN series r ON r.id = s.series_id "
            "WHERE r.host = $1",
            host,
        )
    finally:
        await conn.close()
    return rows, rolled


async def settled(
    client: httpx.AsyncClient, database_url: str, host: str, *, offered: int, expect: int
) -> None:
    """Once the writer has taken all `offered` samples, rows and rollups count `expect`."""
    for _ in range(600):
        if (
            metric_value(await client.get("/metrics"), "hostpulse_writer_written_samples_total")
            >= offered
        ):
            break
        await asyncio.sleep(0.05)
    assert await stored(database_url, host) == (expect, expect)


def metric_value(response: httpx.Response, name: str) -> float:
    for line in response.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def history_counts(client: httpx.AsyncClient, host: str, metric: str) -> list[int]:
    response = await client.get("/api/metrics/history", params={"host": host, "metric": metric})
    response.raise_for_status()
    return [p["count"] for s in response.json()["series"] for p in s["points"]]


async def test_the_same_remote_write_batch_twice_is_stored_once(
    backend: httpx.AsyncClient, database_url: str
) -> None:
    t = now_ms() - 60_000
    request = write_request(
        ({"__name__": "node_load1", "instance": "rw-1"}, [(0.5, t), (0.75, t + 15_000)]),
        ({"__name__": "node_load5", "instance": "rw-1"}, [(0.25, t)]),
    )
    headers = {
        **HEADERS,
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    for _ in range(2):  # the sender got no answer the first time, as far as it knows
        response = await backend.post("/api/v1/write", content=snappy(request), headers=headers)
        assert response.status_code == 204
    await settled(backend, database_url, "rw-1", offered=6, expect=3)
    assert await history_counts(backend, "rw-1", "node_load1") == [1, 1]
    dropped = 'hostpulse_storage_duplicate_samples_total{kind="identical",stage="writer"}'
    assert metric_value(await backend.get("/metrics"), dropped) == 3


async def test_the_same_otlp_request_twice_is_stored_once(
    backend: httpx.AsyncClient, database_url: str
) -> None:
    t_ns = (now_ms() - 60_000) * 1_000_000
    request: ExportMetricsServiceRequest = request_with(
        gauge("system.memory.utilization", "1", 0.42, t_ns),
        gauge("system.cpu.utilization", "1", 0.1, t_ns, **{"cpu.logical_number": "0"}),
        host="otlp-1",
    )
    for _ in range(2):
        response = await backend.post(
            "/v1/metrics",
            content=request.SerializeToString(),
            headers={**HEADERS, "Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 200
    await settled(backend, database_url, "otlp-1", offered=4, expect=2)
    assert await history_counts(backend, "otlp-1", "system_memory_utilization_ratio") == [1]


async def test_the_agents_batch_resent_is_stored_once(
    backend: httpx.AsyncClient, database_url: str
) -> None:
    t = now_ms() - 60_000
    batch = document(host="json-1", reports=3, time_ms=t)
    per_report = None
    for _ in range(2):  # the same batch: the Redis duplicate check answers "duplicate"
        response = await backend.post("/ingest/metrics", json=batch, headers=HEADERS)
        assert response.status_code == 200
        per_report = per_report or response.json()["samples"] // 3
    # The same reports again under new sequence numbers (an agent that lost its state): only
    # storage can tell they are the same samples.
    for report in batch["reports"]:
        report["seq"] += 1_000
    response = await backend.post("/ingest/metrics", json=batch, headers=HEADERS)
    assert response.json()["duplicate_reports"] == 0
    assert per_report is not None
    await settled(backend, database_url, "json-1", offered=6 * per_report, expect=3 * per_report)
