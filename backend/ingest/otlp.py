"""OTLP/HTTP metrics (protobuf or JSON) → `IngestBatch`, named the Prometheus way.

Gauges and sums become one series per point (sums keep their values: cumulative as sent, delta sums
are stored as-is, not accumulated); histograms become `_count`, `_sum` and cumulative `_bucket{le}`
series; exponential histograms keep only `_count` and `_sum`; summaries become `{quantile}` series
plus `_count` and `_sum`. NaN/Inf points are dropped and counted (partial_success), not fatal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from backend.ingest.limits import (
    IngestLimits,
    bad_request,
    check_labels,
    check_name,
    check_text,
    check_time,
    unsupported,
)
from backend.model import IngestBatch, Sample
from conventions.naming import Kind, prometheus_label_name, prometheus_metric_name

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_NO_RECORDED_VALUE = metrics_pb2.DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
# Resource attributes that survive as labels; the rest describe the process, not the series.
_RESOURCE_LABELS = {"service.name": "job", "service.instance.id": "instance"}


@dataclass(slots=True)
class OtlpTranslation:
    samples: list[Sample] = field(default_factory=list)
    rejected_points: int = 0
    first_rejection: str = ""

    def reject(self, reason: str) -> None:
        self.rejected_points += 1
        self.first_rejection = self.first_rejection or reason

    def batch(self) -> IngestBatch:
        return IngestBatch(protocol="otlp", samples=self.samples)


def media_type(content_type: str | None) -> str:
    value = (content_type or "").split(";", 1)[0].strip().lower()
    if value not in (PROTOBUF, JSON):
        raise unsupported(f"Content-Type: {value or 'missing'}; use {PROTOBUF} or {JSON}")
    return value


def decode_request(body: bytes, kind: str) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    try:
        if kind == JSON:
            document = orjson.loads(body)
            if not isinstance(document, dict):
                raise bad_request("body: OTLP/JSON must be an object (ExportMetricsServiceRequest)")
            json_format.ParseDict(document, request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, ValueError, TypeError) as exc:
        # orjson.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise bad_request(f"body: not a valid OTLP ExportMetricsServiceRequest ({exc})") from exc
    return request


def encode_response(translation: OtlpTranslation, kind: str) -> bytes:
    response = ExportMetricsServiceResponse()
    if translation.rejected_points:
        response.partial_success.CopyFrom(
            ExportMetricsPartialSuccess(
                rejected_data_points=translation.rejected_points,
                error_message=translation.first_rejection,
            )
        )
    if kind == JSON:
        return orjson.dumps(json_format.MessageToDict(response))
    return response.SerializeToString()


def format_float(value: float) -> str:
    """Prometheus' spelling of a float label value (`le`, `quantile`): 0.5, 1.0, +Inf."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _attribute_text(value: AnyValue) -> str:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "int_value":
        return str(value.int_value)
    if which == "double_value":
        return format_float(value.double_value)
    if which == "bytes_value":
        return value.bytes_value.hex()
    if which is None:
        return ""
    return orjson.dumps(json_format.MessageToDict(value)).decode()  # arrays and kvlists


def _labels(attributes: Iterable[KeyValue], base: dict[str, str]) -> dict[str, str]:
    labels = dict(base)
    for attribute in attributes:
        labels[prometheus_label_name(attribute.key)] = _attribute_text(attribute.value)
    return labels


class _Translator:
    def __init__(self, now_ms: int, limits: IngestLimits) -> None:
        self.now_ms = now_ms
        self.limits = limits
        self.out = OtlpTranslation()

    def time_ms(self, time_unix_nano: int, where: str) -> int:
        time_ms = time_unix_nano // 1_000_000 if time_unix_nano else self.now_ms
        check_time(time_ms, self.now_ms, self.limits, where)
        return time_ms

    def emit(self, host: str, name: str, labels: dict[str, str], t: int, value: float) -> None:
        if math.isfinite(value):
            self.out.samples.append(Sample(host, name, labels, t, value))
        else:
            self.out.reject(f"{name}: non-finite value {value} dropped")

    def metric(self, host: str, base: dict[str, str], metric: metrics_pb2.Metric, at: str) -> None:
        which = metric.WhichOneof("data")
        if which in ("gauge", "sum"):
            monotonic = which == "sum" and metric.sum.is_monotonic
            kind = Kind.COUNTER if monotonic else (Kind.GAUGE if which == "gauge" else Kind.UPDOWN)
            name = prometheus_metric_name(metric.name, metric.unit, kind)
            check_name(name, self.limits, f"{at}.name")
            points = metric.gauge.data_points if which == "gauge" else metric.sum.data_points
            for index, point in enumerate(points):
                where = f"{at}.dataPoints[{index}]"
                if point.flags & _NO_RECORDED_VALUE:
                    continue
                labels = _labels(point.attributes, base)
                check_labels(labels, self.limits, f"{where}.attributes")
                as_int = point.WhichOneof("value") == "as_int"
                value = float(point.as_int) if as_int else point.as_double
                self.emit(host, name, labels, self.time_ms(point.time_unix_nano, where), value)
        elif which in ("histogram", "exponential_histogram", "summary"):
            self.distribution(host, base, metric, which, at)
        # An empty metric (no data) carries nothing to store.

    def distribution(
        self, host: str, base: dict[str, str], metric: metrics_pb2.Metric, which: str, at: str
    ) -> None:
        name = prometheus_metric_name(metric.name, metric.unit, Kind.UPDOWN)
        check_name(name + "_bucket", self.limits, f"{at}.name")
        points = getattr(metric, which).data_points
        for index, point in enumerate(points):
            where = f"{at}.dataPoints[{index}]"
            if point.flags & _NO_RECORDED_VALUE:
                continue
            labels = _labels(point.attributes, base)
            check_labels(labels, self.limits, f"{where}.attributes")
            t = self.time_ms(point.time_unix_nano, where)
            self.emit(host, name + "_count", labels, t, float(point.count))
            if which == "summary" or point.HasField("sum"):
                self.emit(host, name + "_sum", labels, t, point.sum)
            if which == "histogram":
                running = 0
                bounds = [*point.explicit_bounds, math.inf]
                for bound, count in zip(bounds, point.bucket_counts, strict=False):
                    running += count
                    le = {**labels, "le": format_float(bound)}
                    self.emit(host, name + "_bucket", le, t, float(running))
            elif which == "summary":
                for quantile in point.quantile_values:
                    q = {**labels, "quantile": format_float(quantile.quantile)}
                    self.emit(host, name, q, t, quantile.value)


def translate_request(
    request: ExportMetricsServiceRequest, *, now_ms: int, limits: IngestLimits
) -> OtlpTranslation:
    """Samples and the count of dropped points; IngestError when the whole request is refused."""
    translator = _Translator(now_ms, limits)
    for r_index, resource_metrics in enumerate(request.resource_metrics):
        host = ""
        base: dict[str, str] = {}
        for attribute in resource_metrics.resource.attributes:
            if attribute.key == "host.name":
                host = _attribute_text(attribute.value)
                check_text(host, f"resourceMetrics[{r_index}].resource.attributes.host.name")
            elif attribute.key in _RESOURCE_LABELS:
                base[_RESOURCE_LABELS[attribute.key]] = _attribute_text(attribute.value)
        for s_index, scope_metrics in enumerate(resource_metrics.scope_metrics):
            for m_index, metric in enumerate(scope_metrics.metrics):
                at = f"resourceMetrics[{r_index}].scopeMetrics[{s_index}].metrics[{m_index}]"
                translator.metric(host, base, metric, at)
    return translator.out
