"""Prometheus remote_write 2.0 (io.prometheus.write.v2.Request): the translator on hand-built
requests, and POST /api/v1/write choosing 1.0 or 2.0 by the Content-Type's proto= parameter."""

from __future__ import annotations

import math
from typing import Any

import cramjam
import httpx
import pytest

from backend.ingest import remote_write_v2
from backend.ingest.limits import IngestError, IngestLimits
from backend.protos.remote_pb2 import WriteRequest
from backend.protos.write_v2_pb2 import Request
from tests.backend.ingest.ingest_support import IngestHarness, error_message, now_ms

LIMITS = IngestLimits()
V2_TYPE = "application/x-protobuf;proto=io.prometheus.write.v2.Request"


class Symbols:
    """Builds a request's symbol table the way senders do: "" first, each string once."""

    def __init__(self) -> None:
        self.table = [""]

    def ref(self, text: str) -> int:
        if text not in self.table:
            self.table.append(text)
        return self.table.index(text)

    def refs(self, labels: dict[str, str]) -> list[int]:
        return [self.ref(x) for name in sorted(labels) for x in (name, labels[name])]


def v2_request(*series: tuple[dict[str, str], list[tuple[float, int]]]) -> Any:
    symbols = Symbols()
    request = Request()
    for labels, samples in series:
        ts = request.timeseries.add(labels_refs=symbols.refs(labels))
        for value, timestamp in samples:
            ts.samples.add(value=value, timestamp=timestamp)
    request.symbols.extend(symbols.table)
    return request


def snappy(message: Any) -> bytes:
    return bytes(cramjam.snappy.compress_raw(message.SerializeToString()))


async def post(harness: IngestHarness, body: bytes, content_type: str) -> httpx.Response:
    return await harness.client.post(
        "/api/v1/write",
        content=body,
        headers={
            **harness.auth(),
            "Content-Type": content_type,
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "2.0.0",
        },
    )


def test_labels_come_from_the_symbols_table() -> None:
    t = now_ms()
    request = v2_request(
        ({"__name__": "up", "instance": "web-1:9100", "job": "node"}, [(1, t), (0, t + 1000)])
    )
    out = remote_write_v2.translate_request(request, now_ms=t, limits=LIMITS)
    assert [(s.host, s.name, dict(s.labels), s.time_ms, s.value) for s in out.samples] == [
        ("web-1:9100", "up", {"job": "node"}, t, 1.0),
        ("web-1:9100", "up", {"job": "node"}, t + 1000, 0.0),
    ]
    assert out.written_headers()["X-Prometheus-Remote-Write-Samples-Written"] == "2"


def test_native_histograms_are_stored_as_count_and_sum() -> None:
    t = now_ms()
    request = v2_request(({"__name__": "rpc_seconds", "host_name": "db-1"}, []))
    request.timeseries[0].histograms.add(count_int=12, sum=3.5, schema=3, timestamp=t)
    request.timeseries[0].histograms.add(count_float=2.5, sum=1.0, timestamp=t + 1)
    out = remote_write_v2.translate_request(request, now_ms=t, limits=LIMITS)
    assert [(s.name, s.time_ms, s.value) for s in out.samples] == [
        ("rpc_seconds_count", t, 12.0),
        ("rpc_seconds_sum", t, 3.5),
        ("rpc_seconds_count", t + 1, 2.5),
        ("rpc_seconds_sum", t + 1, 1.0),
    ]
    assert (out.samples_written, out.histograms_written) == (0, 2)


def test_stale_markers_are_dropped_and_not_counted_as_written() -> None:
    t = now_ms()
    out = remote_write_v2.translate_request(
        v2_request(({"__name__": "m"}, [(math.nan, t), (2.0, t)])), now_ms=t, limits=LIMITS
    )
    assert [s.value for s in out.samples] == [2.0]
    assert (out.samples_written, out.dropped_non_finite) == (1, 1)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda r: r.timeseries[0].labels_refs.append(99), r"labels_refs.*not name/value pairs"),
        (lambda r: r.timeseries[0].labels_refs.extend([1, 99]), r"reference 99 outside symbols"),
        (lambda r: r.symbols.__setitem__(0, "x"), r"symbols\[0\]"),
        (lambda r: r.timeseries[0].metadata.__setattr__("help_ref", 50), r"metadata\.help_ref"),
        (lambda r: r.timeseries[0].exemplars.add(labels_refs=[7]), r"exemplars\[0\]"),
        (lambda r: r.timeseries[0].histograms.add(count_int=1), r"both samples and histograms"),
    ],
)
def test_malformed_references_are_400_naming_the_field(damage: Any, words: str) -> None:
    request = v2_request(({"__name__": "up", "job": "x"}, [(1, now_ms())]))
    damage(request)
    with pytest.raises(IngestError, match=words) as caught:
        remote_write_v2.translate_request(request, now_ms=now_ms(), limits=LIMITS)
    assert caught.value.status == 400


def test_a_series_without_a_name_is_400() -> None:
    request = v2_request(({"job": "x"}, [(1, now_ms())]))
    with pytest.raises(IngestError, match="no __name__") as caught:
        remote_write_v2.translate_request(request, now_ms=now_ms(), limits=LIMITS)
    assert caught.value.status == 400


def test_metadata_exemplars_and_created_timestamps_are_accepted() -> None:
    t = now_ms()
    request = v2_request(({"__name__": "http_requests_total", "job": "api"}, [(7, t)]))
    series = request.timeseries[0]
    series.created_timestamp = t - 60_000
    series.metadata.type = series.metadata.METRIC_TYPE_COUNTER
    request.symbols.extend(["Requests served.", "trace_id", "abc"])
    series.metadata.help_ref = len(request.symbols) - 3
    series.exemplars.add(labels_refs=[len(request.symbols) - 2, len(request.symbols) - 1], value=1)
    out = remote_write_v2.translate_request(request, now_ms=t, limits=LIMITS)
    assert [s.value for s in out.samples] == [7.0]
    assert out.exemplars_written == 0  # validated, not stored: the header says so


async def test_post_v2_answers_204_with_written_headers(light_harness: IngestHarness) -> None:
    t = now_ms()
    request = v2_request(({"__name__": "node_load1", "instance": "h1:9100"}, [(0.5, t)]))
    request.timeseries.add(labels_refs=request.timeseries[0].labels_refs).histograms.add(
        count_int=3, sum=1.5, timestamp=t
    )
    response = await post(light_harness, snappy(request), V2_TYPE)
    assert response.status_code == 204, response.text
    assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "1"
    assert response.headers["X-Prometheus-Remote-Write-Histograms-Written"] == "1"
    assert response.headers["X-Prometheus-Remote-Write-Exemplars-Written"] == "0"
    names = [(s.host, s.name, s.value) for s in light_harness.pipeline.samples]
    assert names == [
        ("h1:9100", "node_load1", 0.5),
        ("h1:9100", "node_load1_count", 3.0),
        ("h1:9100", "node_load1_sum", 1.5),
    ]


async def test_a_v1_body_announced_as_v2_reports_nothing_written(
    light_harness: IngestHarness,
) -> None:
    """The 1.0 message's fields are reserved in 2.0: misread, it is empty, and the headers tell
    the sender that nothing was stored instead of a silent 204."""
    v1 = WriteRequest()
    ts = v1.timeseries.add()
    ts.labels.add(name="__name__", value="up")
    ts.samples.add(value=1, timestamp=now_ms())
    response = await post(light_harness, snappy(v1), V2_TYPE)
    assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "0"
    assert light_harness.pipeline.samples == []


async def test_post_v2_refusal_carries_zero_written_headers(light_harness: IngestHarness) -> None:
    request = v2_request(({"__name__": "up"}, [(1, now_ms())]))
    request.timeseries[0].labels_refs.append(40)
    response = await post(light_harness, snappy(request), V2_TYPE)
    assert response.status_code == 400
    assert "labels_refs" in error_message(response)
    assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "0"
    assert light_harness.pipeline.samples == []


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-protobuf",
        "application/x-protobuf;proto=prometheus.WriteRequest",
        "Application/X-Protobuf; proto=prometheus.WriteRequest",
    ],
)
async def test_v1_content_types_still_decode_as_v1(
    light_harness: IngestHarness, content_type: str
) -> None:
    v1 = WriteRequest()
    ts = v1.timeseries.add()
    ts.labels.add(name="__name__", value="up")
    ts.samples.add(value=1, timestamp=now_ms())
    response = await post(light_harness, snappy(v1), content_type)
    assert response.status_code == 204, response.text
    assert "X-Prometheus-Remote-Write-Samples-Written" not in response.headers
    assert [s.name for s in light_harness.pipeline.samples] == ["up"]
