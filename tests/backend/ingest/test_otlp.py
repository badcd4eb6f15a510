"""OTLP/HTTP: the pure translator on hand-built requests, and POST /v1/metrics in both encodings."""

from __future__ import annotations

import gzip
import math

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from backend.ingest import otlp
from backend.ingest.limits import IngestError, IngestLimits
from tests.backend.ingest.ingest_support import IngestHarness, error_message, now_ms

LIMITS = IngestLimits()
CUMULATIVE = metrics_pb2.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def kv(key: str, value: str | int | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request_with(*metrics: metrics_pb2.Metric, host: str = "db-1") -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(
        [
            kv("host.name", host),
            kv("service.name", "checkout"),
            kv("service.instance.id", "pod-7"),
            kv("process.pid", 4242),  # dropped: describes the process, not the series
        ]
    )
    resource_metrics.scope_metrics.add().metrics.extend(metrics)
    return request


def gauge(name: str, unit: str, value: float, t_ns: int, **attrs: str) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit=unit)
    point = metric.gauge.data_points.add(as_double=value, time_unix_nano=t_ns)
    point.attributes.extend([kv(k.replace("_", "."), v) for k, v in attrs.items()])
    return metric


def test_gauges_and_sums_use_prometheus_names_and_resource_labels() -> None:
    t_ns = now_ms() * 1_000_000
    counter = metrics_pb2.Metric(name="http.server.requests", unit="{request}")
    counter.sum.is_monotonic = True
    counter.sum.aggregation_temporality = CUMULATIVE
    counter.sum.data_points.add(as_int=42, time_unix_nano=t_ns).attributes.append(kv("ok", True))
    updown = metrics_pb2.Metric(name="queue.size", unit="By")
    updown.sum.aggregation_temporality = DELTA  # stored as-is
    updown.sum.data_points.add(as_int=-5, time_unix_nano=t_ns)
    request = request_with(
        gauge("system.cpu.utilization", "1", 0.5, t_ns, cpu_mode="idle"), counter, updown
    )

    out = otlp.translate_request(request, now_ms=now_ms(), limits=LIMITS)

    got = {s.name: s for s in out.samples}
    assert set(got) == {
        "system_cpu_utilization_ratio",
        "http_server_requests_total",
        "queue_size_bytes",
    }
    assert got["system_cpu_utilization_ratio"].labels == {
        "job": "checkout",
        "instance": "pod-7",
        "cpu_mode": "idle",
    }
    assert got["http_server_requests_total"].value == 42
    assert got["http_server_requests_total"].labels["ok"] == "true"
    assert got["queue_size_bytes"].value == -5
    assert {s.host for s in out.samples} == {"db-1"}
    assert {s.time_ms for s in out.samples} == {t_ns // 1_000_000}


def test_histogram_becomes_count_sum_and_cumulative_buckets() -> None:
    metric = metrics_pb2.Metric(name="http.server.request.duration", unit="s")
    metric.histogram.aggregation_temporality = CUMULATIVE
    metric.histogram.data_points.add(
        time_unix_nano=now_ms() * 1_000_000,
        count=10,
        sum=2.5,
        explicit_bounds=[0.1, 1.0],
        bucket_counts=[3, 5, 2],
    )
    out = otlp.translate_request(request_with(metric), now_ms=now_ms(), limits=LIMITS)
    values = {(s.name, s.labels.get("le")): s.value for s in out.samples}
    assert values == {
        ("http_server_request_duration_seconds_count", None): 10,
        ("http_server_request_duration_seconds_sum", None): 2.5,
        ("http_server_request_duration_seconds_bucket", "0.1"): 3,
        ("http_server_request_duration_seconds_bucket", "1.0"): 8,
        ("http_server_request_duration_seconds_bucket", "+Inf"): 10,
    }


def test_summary_becomes_quantiles() -> None:
    metric = metrics_pb2.Metric(name="rpc.latency", unit="ms")
    point = metric.summary.data_points.add(time_unix_nano=now_ms() * 1_000_000, count=4, sum=10)
    point.quantile_values.add(quantile=0.5, value=2)
    point.quantile_values.add(quantile=0.99, value=7)
    out = otlp.translate_request(request_with(metric), now_ms=now_ms(), limits=LIMITS)
    values = {(s.name, s.labels.get("quantile")): s.value for s in out.samples}
    assert values[("rpc_latency_milliseconds", "0.99")] == 7
    assert values[("rpc_latency_milliseconds_count", None)] == 4


def test_non_finite_points_are_dropped_and_counted() -> None:
    t_ns = now_ms() * 1_000_000
    request = request_with(
        gauge("a", "", math.nan, t_ns), gauge("b", "", math.inf, t_ns), gauge("c", "", 1, t_ns)
    )
    out = otlp.translate_request(request, now_ms=now_ms(), limits=LIMITS)
    assert [s.name for s in out.samples] == ["c"]
    assert out.rejected_points == 2
    assert "non-finite" in out.first_rejection


def test_future_timestamp_refuses_the_request_naming_the_point() -> None:
    request = request_with(gauge("a", "", 1, (now_ms() + 3600_000) * 1_000_000))
    with pytest.raises(IngestError, match=r"metrics\[0\]\.dataPoints\[0\].*future"):
        otlp.translate_request(request, now_ms=now_ms(), limits=LIMITS)


async def test_post_protobuf_gzip_answers_protobuf(light_harness: IngestHarness) -> None:
    request = request_with(gauge("system.memory.usage", "By", 123.0, now_ms() * 1_000_000))
    response = await light_harness.client.post(
        "/v1/metrics",
        content=gzip.compress(request.SerializeToString()),
        headers={
            **light_harness.auth(),
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    [sample] = light_harness.pipeline.samples
    assert (sample.host, sample.name, sample.value) == ("db-1", "system_memory_usage_bytes", 123.0)


async def test_post_json_with_nan_answers_partial_success_in_json(
    light_harness: IngestHarness,
) -> None:
    t_ns = now_ms() * 1_000_000
    request = request_with(gauge("ok", "", 1.0, t_ns), gauge("bad", "", math.nan, t_ns))
    body = json_format.MessageToJson(request)
    response = await light_harness.client.post(
        "/v1/metrics",
        content=body,
        headers={**light_harness.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer = orjson.loads(response.content)
    assert answer["partialSuccess"]["rejectedDataPoints"] == "1"
    assert [s.name for s in light_harness.pipeline.samples] == ["ok"]


async def test_unknown_content_type_is_415(light_harness: IngestHarness) -> None:
    response = await light_harness.client.post(
        "/v1/metrics", content=b"x", headers={**light_harness.auth(), "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "Content-Type" in error_message(response)
