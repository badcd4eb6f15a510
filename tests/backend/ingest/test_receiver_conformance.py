"""The peers' receiver rules, case by case: Prometheus' remote_write receiver (the remote_write
1.0/2.0 specs, prometheus/compliance `remotewrite/receiver`, `storage/remote/write_handler_test.go`)
and the OTLP/HTTP receiver (the OTLP spec, opentelemetry-collector's `receiver/otlpreceiver` tests).
Real Redis and PostgreSQL; "away" stores are real closed ports, not mocks."""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import cramjam
import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from pydantic import SecretStr

from backend.ingest.limits import IngestLimits
from backend.protos.remote_pb2 import WriteRequest
from backend.ratelimit.settings import BucketSettings, RateLimitSettings
from backend.settings import BackendSettings
from tests.backend.ingest.ingest_support import (
    BOOTSTRAP_TOKEN,
    IngestHarness,
    RecordingPipeline,
    build_app,
    error_message,
    now_ms,
)
from tests.conftest import free_port

PROTOBUF = "application/x-protobuf"


def v1_body() -> bytes:
    request = WriteRequest()
    ts = request.timeseries.add()
    ts.labels.add(name="__name__", value="up")
    ts.labels.add(name="instance", value="h:9100")
    ts.samples.add(value=1, timestamp=now_ms())
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def otlp_request(**extra: Any) -> dict[str, Any]:
    """An OTLP/JSON request as the spec writes it: int64 fields as strings, camelCase."""
    point = {"timeUnixNano": str(now_ms() * 1_000_000), "asInt": "42", **extra}
    return {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [{"key": "host.name", "value": {"stringValue": "web-1"}}]
                },
                "scopeMetrics": [
                    {"metrics": [{"name": "queue.size", "gauge": {"dataPoints": [point]}}]}
                ],
            }
        ]
    }


# ---- remote_write -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({"Content-Type": "application/json"}, 415, "application/json"),
        ({"Content-Type": "text/plain"}, 415, "x-protobuf"),
        ({"Content-Type": f"{PROTOBUF};proto=io.prometheus.write.v3.Request"}, 415, "v3"),
        ({"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}, 415, "snappy"),
        ({"Content-Type": PROTOBUF, "Content-Encoding": "zstd"}, 415, "snappy"),
    ],
)
async def test_remote_write_refuses_what_it_cannot_read_with_415(
    light_harness: IngestHarness, headers: dict[str, str], status: int, words: str
) -> None:
    response = await light_harness.client.post(
        "/api/v1/write", content=v1_body(), headers={**light_harness.auth(), **headers}
    )
    assert response.status_code == status
    assert words in error_message(response)
    assert light_harness.pipeline.samples == []


@pytest.mark.parametrize(
    "body",
    [
        b"definitely not snappy",
        bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff not protobuf")),
        bytes(cramjam.snappy.compress(b"framed, not block")),
        v1_body()[:-3],
    ],
    ids=["not snappy", "snappy of garbage", "framed snappy", "truncated"],
)
async def test_remote_write_corrupt_body_is_400_not_422(
    light_harness: IngestHarness, body: bytes
) -> None:
    response = await light_harness.client.post(
        "/api/v1/write",
        content=body,
        headers={**light_harness.auth(), "Content-Type": PROTOBUF, "Content-Encoding": "snappy"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/plain")  # what Prometheus logs
    assert light_harness.pipeline.samples == []


async def test_remote_write_overload_is_503_with_retry_after(light_harness: IngestHarness) -> None:
    light_harness.pipeline.overloaded = True
    response = await light_harness.client.post(
        "/api/v1/write",
        content=v1_body(),
        headers={**light_harness.auth(), "Content-Type": PROTOBUF, "Content-Encoding": "snappy"},
    )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


# ---- OTLP/HTTP ----------------------------------------------------------------------------


async def test_otlp_without_content_type_is_415_as_protobuf_status(
    light_harness: IngestHarness,
) -> None:
    request = ExportMetricsServiceRequest()
    response = await light_harness.client.post(
        "/v1/metrics", content=request.SerializeToString(), headers=light_harness.auth()
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == PROTOBUF
    assert "Content-Type" in Status.FromString(response.content).message


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_otlp_other_methods_are_405_allowing_post(
    light_harness: IngestHarness, method: str
) -> None:
    response = await light_harness.client.request(method, "/v1/metrics")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    ("content_type", "decode"),
    [
        (PROTOBUF, lambda r: Status.FromString(r.content).message),
        ("application/json", lambda r: r.json()["message"]),
    ],
)
async def test_otlp_bad_gzip_is_400_in_the_requests_encoding(
    light_harness: IngestHarness, content_type: str, decode: Any
) -> None:
    response = await light_harness.client.post(
        "/v1/metrics",
        content=b"\x1f\x8b\x08\x00garbage",
        headers={
            **light_harness.auth(),
            "Content-Type": content_type,
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == content_type
    assert "gzip" in decode(response)


async def test_otlp_over_the_limit_after_decompression_is_413(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    settings = BackendSettings(
        database_url="postgresql://unused@127.0.0.1:1/unused",
        redis_prefix=redis_prefix,
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
    )
    app = build_app(settings, None, redis_client, RecordingPipeline())
    app.state.services = dataclasses.replace(
        app.state.services, ingest_limits=IngestLimits(max_body_bytes=4096)
    )
    body = gzip.compress(orjson.dumps(otlp_request()) + b" " * 10_000)
    assert len(body) < 4096
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/v1/metrics",
            content=body,
            headers={
                "Authorization": f"Bearer {BOOTSTRAP_TOKEN}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
        )
    assert response.status_code == 413
    assert "after gzip decompression" in response.json()["message"]


async def test_otlp_overload_is_503_with_retry_after(light_harness: IngestHarness) -> None:
    light_harness.pipeline.overloaded = True
    response = await light_harness.client.post(
        "/v1/metrics",
        content=orjson.dumps(otlp_request()),
        headers={**light_harness.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["code"] == 14  # UNAVAILABLE: the OTLP exporters retry it


@pytest.mark.parametrize(
    ("extra", "value"),
    [({}, 42.0), ({"asInt": 42}, 42.0), ({"asInt": "-7"}, -7.0), ({"asDouble": 1.5}, 1.5)],
    ids=["int64 as string", "int64 as number", "negative string", "double"],
)
async def test_otlp_json_int64_as_string_or_number(
    light_harness: IngestHarness, extra: dict[str, Any], value: float
) -> None:
    document = otlp_request(**extra)
    if "asDouble" in extra:
        del document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][
            0
        ]["asInt"]
    response = await light_harness.client.post(
        "/v1/metrics",
        content=orjson.dumps(document),
        headers={**light_harness.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert [s.value for s in light_harness.pipeline.samples] == [value]


async def test_otlp_json_unknown_fields_are_ignored_and_media_type_is_case_insensitive(
    light_harness: IngestHarness,
) -> None:
    document = otlp_request(someFutureField={"x": 1})
    document["resourceMetrics"][0]["newTopLevelThing"] = [1, 2]
    response = await light_harness.client.post(
        "/v1/metrics",
        content=orjson.dumps(document),
        headers={**light_harness.auth(), "Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert [(s.host, s.name) for s in light_harness.pipeline.samples] == [("web-1", "queue_size")]


async def test_otlp_partial_success_names_rejected_points(light_harness: IngestHarness) -> None:
    request = json_format.ParseDict(otlp_request(), ExportMetricsServiceRequest())
    points = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points
    points.add(time_unix_nano=now_ms() * 1_000_000, as_double=float("inf"))
    response = await light_harness.client.post(
        "/v1/metrics",
        content=request.SerializeToString(),
        headers={**light_harness.auth(), "Content-Type": PROTOBUF},
    )
    assert response.status_code == 200
    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_data_points == 1
    assert "non-finite" in answer.partial_success.error_message
    assert [s.value for s in light_harness.pipeline.samples] == [42.0]


async def test_otlp_unauthenticated_is_401_as_status(light_harness: IngestHarness) -> None:
    response = await light_harness.client.post(
        "/v1/metrics", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == 16  # UNAUTHENTICATED
    assert "Authorization" in response.json()["message"]


# ---- stores away: 503 + Retry-After, never 500 -------------------------------------------


@pytest.fixture
async def stores_away(redis_prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    """PostgreSQL and Redis at ports nothing listens on: the states of a store that is down."""
    dead_pg = f"postgresql://postgres@127.0.0.1:{free_port()}/hostpulse"
    pool = await asyncpg.create_pool(dead_pg, min_size=0, max_size=1, timeout=2)
    assert pool is not None
    dead_redis = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=2)
    settings = BackendSettings(
        database_url=dead_pg,
        redis_prefix=redis_prefix,
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
    )
    app = build_app(settings, pool, dead_redis, RecordingPipeline())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
    await pool.close()
    await dead_redis.aclose()


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/api/v1/write", PROTOBUF, v1_body()),
        ("/v1/metrics", "application/json", orjson.dumps(otlp_request())),
        ("/ingest/metrics", "application/json", b"[]"),
    ],
)
async def test_postgresql_away_is_503_with_retry_after(
    stores_away: httpx.AsyncClient, path: str, content_type: str, body: bytes
) -> None:
    """An agent token other than the bootstrap one must be looked up in PostgreSQL."""
    response = await stores_away.post(
        path,
        content=body,
        headers={
            "Authorization": "Bearer hp_some-real-looking-token",
            "Content-Type": content_type,
        },
    )
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert "PostgreSQL is unavailable" in error_message(response)


async def test_redis_away_ingest_continues(
    stores_away: httpx.AsyncClient, make_document: Any
) -> None:
    """PostgreSQL is the record: with Redis away (duplicate check, rate limits, live view) the
    agent's report is still accepted, not refused (the bootstrap token needs no PostgreSQL)."""
    response = await stores_away.post(
        "/ingest/metrics",
        content=orjson.dumps(make_document()),
        headers={"Authorization": f"Bearer {BOOTSTRAP_TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted_reports"] == 1


# ---- agent JSON: unstorable text is a 422 naming the field ------------------------------


@pytest.mark.parametrize(
    ("escape", "words"), [("\\ud800", "unpaired UTF-16 surrogate"), ("\\u0000", "NUL")]
)
async def test_agent_json_unstorable_text_is_422_naming_the_field(
    light_harness: IngestHarness, make_document: Any, escape: str, words: str
) -> None:
    body = orjson.dumps(make_document(host="web-HOSTMARK")).replace(b"HOSTMARK", escape.encode())
    response = await light_harness.client.post(
        "/ingest/metrics",
        content=body,
        headers={**light_harness.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    detail = error_message(response)
    assert "host.name" in detail
    assert words in detail
    assert light_harness.pipeline.samples == []


@pytest.mark.parametrize(
    ("content_type", "decode"),
    [
        (PROTOBUF, lambda r: Status.FromString(r.content)),
        ("application/json", lambda r: json_format.ParseDict(r.json(), Status())),
    ],
)
async def test_otlp_rate_limited_is_429_with_retry_after_as_status(
    redis_client: aioredis.Redis, redis_prefix: str, content_type: str, decode: Any
) -> None:
    """A bucket of one request (real Redis token bucket): the second is a 429 an OTLP exporter
    retries after `Retry-After`, its body a Status in the request's encoding."""
    settings = BackendSettings(
        database_url="postgresql://unused@127.0.0.1:1/unused",
        redis_prefix=redis_prefix,
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
        rate_limits=RateLimitSettings(ingest_per_token=BucketSettings(capacity=1, per_second=0.01)),
    )
    app = build_app(settings, None, redis_client, RecordingPipeline())
    headers = {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}", "Content-Type": content_type}
    body = ExportMetricsServiceRequest().SerializeToString() if content_type == PROTOBUF else b"{}"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.post("/v1/metrics", content=body, headers=headers)
        second = await client.post("/v1/metrics", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) > 0
    status = decode(second)
    assert status.code == 8  # RESOURCE_EXHAUSTED
    assert "too many" in status.message
