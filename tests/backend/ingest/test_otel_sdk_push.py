"""The official OpenTelemetry Python SDK's OTLP/HTTP exporter pushes to the real backend; the data
is readable through the history API under Prometheus-style names."""

from __future__ import annotations

import asyncio

import httpx
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from pydantic import SecretStr

from backend.settings import BackendSettings
from tests.backend.ingest.ingest_support import (
    BOOTSTRAP_TOKEN,
    history_points,
    running_backend,
    viewer_cookies,
)
from tests.conftest import free_port


def push_with_the_sdk(endpoint: str, token: str) -> bool:
    """Blocking, like any application using the SDK: record, then flush once through OTLP/HTTP."""
    exporter = OTLPMetricExporter(
        endpoint=endpoint,
        headers={"Authorization": f"Bearer {token}"},
        compression=Compression.Gzip,
        timeout=10,
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    resource = Resource.create({"host.name": "otel-host", "service.name": "shop"})
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("hostpulse-test")
    meter.create_counter("orders.placed", unit="{order}").add(3, {"region": "eu"})
    meter.create_histogram("checkout.duration", unit="s").record(0.2)
    meter.create_up_down_counter("queue.depth", unit="{item}").add(-2)
    flushed = provider.force_flush(timeout_millis=20_000)
    provider.shutdown()
    return flushed


async def test_sdk_push_is_readable_in_history(
    database_url: str, redis_prefix: str, redis_client: object
) -> None:
    settings = BackendSettings(
        database_url=database_url,
        redis_prefix=redis_prefix,
        port=free_port(),
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
    )
    async with running_backend(settings) as base_url:
        flushed = await asyncio.to_thread(
            push_with_the_sdk, f"{base_url}/v1/metrics", BOOTSTRAP_TOKEN
        )
        assert flushed
        async with httpx.AsyncClient(
            base_url=base_url, cookies=await viewer_cookies(database_url)
        ) as client:
            [orders] = await history_points(client, host="otel-host", metric="orders_placed_total")
            assert orders["labels"]["region"] == "eu"
            assert orders["labels"]["job"] == "shop"
            assert orders["points"][-1]["max"] == 3
            [count] = await history_points(
                client, host="otel-host", metric="checkout_duration_seconds_count"
            )
            assert count["points"][-1]["max"] == 1
            buckets = await history_points(
                client, host="otel-host", metric="checkout_duration_seconds_bucket"
            )
            assert "+Inf" in {b["labels"]["le"] for b in buckets}
            [depth] = await history_points(client, host="otel-host", metric="queue_depth")
            assert depth["points"][-1]["min"] == -2
            health = await client.get("/healthz")
            assert health.status_code == 200
