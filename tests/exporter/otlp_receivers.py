"""Test OTLP receivers on loopback: OTLP/HTTP (http.server) and OTLP/gRPC (grpcio), plus decoding.

Each receiver records every `ExportMetricsServiceRequest` with the headers it arrived with.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.conftest import free_port


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]  # lower-cased names
    request: ExportMetricsServiceRequest


@dataclass
class _Inbox:
    items: list[Received] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Received) -> None:
        with self.condition:
            self.items.append(item)
            self.condition.notify_all()

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float
    ) -> list[Received]:
        """Block until predicate(items) holds (polling on arrival, bounded by timeout)."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while not predicate(self.items):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"receiver got {len(self.items)} requests, not enough")
                self.condition.wait(remaining)
            return list(self.items)


class HttpOtlpReceiver:
    """POST /v1/metrics with a protobuf body (gzip or not) → recorded; answers 200."""

    def __init__(self, path: str = "/v1/metrics") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.inbox = _Inbox()
        inbox = self.inbox

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != path:
                    self.send_error(404)
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportMetricsServiceRequest.FromString(body)
                headers = {key.lower(): value for key, value in self.headers.items()}
                inbox.add(Received(headers, request))
                reply = ExportMetricsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HttpOtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, inbox: _Inbox) -> None:
        self._inbox = inbox

    def Export(
        self, request: ExportMetricsServiceRequest, context: grpc.ServicerContext
    ) -> ExportMetricsServiceResponse:
        headers = {key.lower(): value for key, value in context.invocation_metadata()}
        self._inbox.add(Received(headers, request))
        return ExportMetricsServiceResponse()


class GrpcOtlpReceiver:
    """The OTLP gRPC MetricsService on 127.0.0.1, plaintext."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.inbox = _Inbox()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _MetricsService(self.inbox), self._server
        )
        self._server.add_insecure_port(f"127.0.0.1:{self.port}")

    def __enter__(self) -> GrpcOtlpReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None).wait(timeout=10)


def _any_value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value") or "string_value")


def attributes(pairs: list[KeyValue]) -> dict[str, Any]:
    return {pair.key: _any_value(pair.value) for pair in pairs}


@dataclass(frozen=True)
class DecodedMetric:
    name: str
    unit: str
    description: str
    data: str  # "sum" or "gauge"
    monotonic: bool | None
    temporality: int | None
    points: list[tuple[dict[str, Any], float]]


def resource_attributes(request: ExportMetricsServiceRequest) -> dict[str, Any]:
    return attributes(list(request.resource_metrics[0].resource.attributes))


def decode_metrics(request: ExportMetricsServiceRequest) -> dict[str, DecodedMetric]:
    """Every metric of a request by name, points as (attributes, value)."""
    decoded: dict[str, DecodedMetric] = {}
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data") or "none"
                data = getattr(metric, kind)
                points = [
                    (
                        attributes(list(p.attributes)),
                        p.as_double if p.WhichOneof("value") == "as_double" else float(p.as_int),
                    )
                    for p in data.data_points
                ]
                decoded[metric.name] = DecodedMetric(
                    name=metric.name,
                    unit=metric.unit,
                    description=metric.description,
                    data=kind,
                    monotonic=data.is_monotonic if kind == "sum" else None,
                    temporality=data.aggregation_temporality if kind == "sum" else None,
                    points=points,
                )
    return decoded
