"""The bad-input matrix: every refusal is a 4xx naming the problem, nothing of the request reaches
the pipeline, and the next good request is served as usual."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import cramjam
import httpx
import orjson
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from pydantic import SecretStr

from backend.protos.remote_pb2 import WriteRequest
from backend.settings import BackendSettings
from tests.backend.ingest.ingest_support import (
    BOOTSTRAP_TOKEN,
    IngestHarness,
    document,
    error_message,
    history_points,
    now_ms,
    running_backend,
    viewer_cookies,
)
from tests.conftest import free_port

MB = 1024 * 1024
JSON = {"Content-Type": "application/json"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}
SNAPPY = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
WEIRD = "ünï'cödé\"; DROP TABLE series; -- 🚀 \\ %_ $1"


def doc_with(change: Any) -> bytes:
    doc = document()
    change(doc)
    return orjson.dumps(doc)


def otlp_gauge(attributes: int = 0, time_ms: int | None = None) -> bytes:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="g")
    point = metric.gauge.data_points.add(as_double=1, time_unix_nano=(time_ms or now_ms()) * 10**6)
    point.attributes.extend(
        KeyValue(key=f"k{i}", value=AnyValue(string_value="v")) for i in range(attributes)
    )
    return request.SerializeToString()


def remote_write(labels: dict[str, str], time_ms: int | None = None) -> bytes:
    request = WriteRequest()
    series = request.timeseries.add()
    for name, value in labels.items():
        series.labels.add(name=name, value=value)
    series.samples.add(value=1.0, timestamp=time_ms or now_ms())
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def many_attributes(doc: dict[str, Any]) -> None:
    doc["reports"][0]["metrics"][0]["points"][0]["attributes"] = {
        f"a{i}": "v" for i in range(10_000)
    }


CASES = [
    # (id, path, headers, body, status, words the detail must contain)
    ("malformed json", "/ingest/metrics", JSON, b'{"reports": [', 400, "malformed JSON"),
    ("json array", "/ingest/metrics", JSON, b"[1, 2]", 422, "body"),
    (
        "wrong type",
        "/ingest/metrics",
        JSON,
        doc_with(lambda d: d["reports"][0]["host"].update(name=42)),
        422,
        "reports[0].host.name",
    ),
    ("nan", "/ingest/metrics", JSON, b'{"value": NaN}', 400, "finite"),
    ("inf", "/ingest/metrics", JSON, b'{"schema_version": 1, "x": 1e999}', 400, "malformed"),
    (
        "future timestamp",
        "/ingest/metrics",
        JSON,
        orjson.dumps(document(time_ms=now_ms() + 86_400_000)),
        422,
        "reports[0].timestamp",
    ),
    (
        "ancient timestamp",
        "/ingest/metrics",
        JSON,
        orjson.dumps(document(time_ms=86_400_000)),
        422,
        "reports[0].timestamp",
    ),
    ("10k labels json", "/ingest/metrics", JSON, doc_with(many_attributes), 422, "attributes"),
    (
        "nul in process name",
        "/ingest/metrics",
        JSON,
        doc_with(lambda d: d["reports"][0]["processes"][0].update(name="a\x00b")),
        422,
        "processes[0].name",
    ),
    ("corrupt protobuf", "/v1/metrics", PROTOBUF, b"\xff\xff\xff garbage", 400, "OTLP"),
    ("corrupt gzip", "/v1/metrics", {**PROTOBUF, "Content-Encoding": "gzip"}, b"xx", 400, "gzip"),
    (
        "gzip bomb",
        "/v1/metrics",
        {**PROTOBUF, "Content-Encoding": "gzip"},
        gzip.compress(b"\x00" * 20 * MB),
        413,
        "decompression",
    ),
    ("10k labels otlp", "/v1/metrics", PROTOBUF, otlp_gauge(attributes=10_000), 422, "labels"),
    (
        "future otlp",
        "/v1/metrics",
        PROTOBUF,
        otlp_gauge(time_ms=now_ms() + 86_400_000),
        422,
        "future",
    ),
    ("corrupt snappy", "/api/v1/write", SNAPPY, b"\x05garbage", 400, "snappy"),
    (
        "snappy of garbage",
        "/api/v1/write",
        SNAPPY,
        bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff garbage")),
        400,
        "WriteRequest",
    ),
    ("snappy bomb", "/api/v1/write", SNAPPY, b"\xff\xff\xff\xff\x0f\x00", 413, "snappy"),
    (
        "10k labels remote_write",
        "/api/v1/write",
        SNAPPY,
        remote_write({"__name__": "m", **{f"l{i}": "v" for i in range(10_000)}}),
        422,
        "labels",
    ),
    (
        "ancient remote_write",
        "/api/v1/write",
        SNAPPY,
        remote_write({"__name__": "m"}, time_ms=1000),
        422,
        "retention",
    ),
    ("no snappy", "/api/v1/write", PROTOBUF | {"Content-Encoding": "zstd"}, b"x", 415, "snappy"),
]


async def assert_healthy(harness: IngestHarness) -> None:
    """A good request right after a bad one is stored as usual; the bad one left nothing."""
    response = await harness.client.post(
        "/ingest/metrics", content=orjson.dumps(document(seq=99)), headers=harness.auth()
    )
    assert response.status_code == 200, response.text
    assert len(harness.pipeline.batches) == 1


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_bad_input_is_a_clear_4xx_and_nothing_is_stored(
    light_harness: IngestHarness,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    words: str,
) -> None:
    response = await light_harness.client.post(
        path, content=body, headers={**light_harness.auth(), **headers}
    )
    assert response.status_code == status, response.text
    assert words in error_message(response)
    assert light_harness.pipeline.batches == []
    await assert_healthy(light_harness)


async def test_20_mb_body_is_413_by_content_length(light_harness: IngestHarness) -> None:
    body = b"{" + b" " * (20 * MB) + b"}"
    response = await light_harness.client.post(
        "/ingest/metrics", content=body, headers={**light_harness.auth(), **JSON}
    )
    assert response.status_code == 413
    assert "Content-Length" in error_message(response)
    await assert_healthy(light_harness)


async def test_20_mb_streamed_body_is_413_before_it_is_all_read(
    light_harness: IngestHarness,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(20):
            sent += MB
            yield b" " * MB

    response = await light_harness.client.post(
        "/ingest/metrics", content=chunks(), headers={**light_harness.auth(), **JSON}
    )
    assert response.status_code == 413
    assert "more than" in error_message(response)
    await assert_healthy(light_harness)


async def test_sql_metacharacters_and_unicode_are_stored_verbatim(
    light_harness: IngestHarness,
) -> None:
    doc = document()
    doc["reports"][0]["metrics"][0]["points"][0]["attributes"] = {"path": WEIRD}
    doc["reports"][0]["processes"][0]["name"] = WEIRD
    response = await light_harness.client.post(
        "/ingest/metrics", content=orjson.dumps(doc), headers=light_harness.auth()
    )
    assert response.status_code == 200, response.text
    rw = await light_harness.client.post(
        "/api/v1/write",
        content=remote_write({"__name__": "m", "host_name": WEIRD, "q": WEIRD}),
        headers={**light_harness.auth(), **SNAPPY},
    )
    assert rw.status_code == 204, rw.text
    json_batch, rw_batch = light_harness.pipeline.batches
    assert WEIRD in {s.labels.get("path") for s in json_batch.samples}
    assert json_batch.process_snapshots[0].processes[0]["name"] == WEIRD
    [sample] = rw_batch.samples
    assert (sample.host, sample.labels["q"]) == (WEIRD, WEIRD)


async def test_real_app_stores_nothing_from_bad_requests_and_stays_ready(
    database_url: str, redis_prefix: str, redis_client: object
) -> None:
    settings = BackendSettings(
        database_url=database_url,
        redis_prefix=redis_prefix,
        port=free_port(),
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
    )
    auth = {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"}
    async with (
        running_backend(settings) as base_url,
        httpx.AsyncClient(
            base_url=base_url, timeout=30, cookies=await viewer_cookies(database_url)
        ) as client,
    ):
        for _, path, headers, body, status, _ in CASES:
            response = await client.post(path, content=body, headers={**auth, **headers})
            assert response.status_code == status, (path, response.text)
        big = await client.post("/ingest/metrics", content=b" " * 20 * MB, headers=auth)
        assert big.status_code == 413
        conn = await asyncpg.connect(database_url)
        try:
            await asyncio.sleep(1)  # longer than the writer's flush interval
            assert await conn.fetchval("SELECT count(*) FROM series") == 0
            assert await conn.fetchval("SELECT count(*) FROM process_snapshots") == 0
            assert (await client.get("/readyz")).status_code == 200
            good = await client.post("/ingest/metrics", json=document(seq=7), headers=auth)
            assert good.status_code == 200, good.text
            assert await history_points(
                client, host="web-1", metric="system_cpu_time_seconds_total"
            )
        finally:
            await conn.close()
        assert "/api/v1/write" in (await client.get("/openapi.json")).json()["paths"]


async def test_samples_older_than_raw_retention_are_refused(light_harness: IngestHarness) -> None:
    # Default raw retention is 7 days: 8-day-old data would be deleted by the next retention pass.
    eight_days_ago = now_ms() - 8 * 86_400_000
    response = await light_harness.client.post(
        "/ingest/metrics", json=document(time_ms=eight_days_ago), headers=light_harness.auth()
    )
    assert response.status_code == 422, response.text
    assert "retention horizon (7 days)" in error_message(response)
    assert light_harness.pipeline.samples == []
    six_days_ago = now_ms() - 6 * 86_400_000
    response = await light_harness.client.post(
        "/ingest/metrics", json=document(time_ms=six_days_ago, seq=9), headers=light_harness.auth()
    )
    assert response.status_code == 200, response.text
