"""Prometheus remote_write 1.0: the translator on hand-built requests and POST /api/v1/write."""

from __future__ import annotations

import math
import struct
from typing import Any

import cramjam
import pytest

from backend.ingest import remote_write
from backend.ingest.limits import IngestError, IngestLimits
from backend.protos.remote_pb2 import WriteRequest
from tests.backend.ingest.ingest_support import IngestHarness, now_ms

LIMITS = IngestLimits()
# Prometheus' stale marker: a NaN with this exact bit pattern, sent when a series disappears.
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def write_request(*series: tuple[dict[str, str], list[tuple[float, int]]]) -> Any:
    request = WriteRequest()
    for labels, samples in series:
        ts = request.timeseries.add()
        for name, value in labels.items():
            ts.labels.add(name=name, value=value)
        for sample_value, timestamp in samples:
            ts.samples.add(value=sample_value, timestamp=timestamp)
    return request


def snappy(request: Any) -> bytes:
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def test_host_comes_from_host_name_else_instance() -> None:
    t = now_ms()
    request = write_request(
        (
            {"__name__": "up", "job": "node", "instance": "10.0.0.1:9100", "host_name": "web-1"},
            [(1, t)],
        ),
        ({"__name__": "node_load1", "instance": "10.0.0.2:9100"}, [(0.5, t), (0.7, t + 1000)]),
    )
    out = remote_write.translate_request(request, now_ms=t, limits=LIMITS)
    first, second, third = out.samples
    assert (first.host, first.name, dict(first.labels)) == (
        "web-1",
        "up",
        {"job": "node", "instance": "10.0.0.1:9100"},
    )
    assert (second.host, dict(second.labels)) == ("10.0.0.2:9100", {})
    assert [s.value for s in (second, third)] == [0.5, 0.7]
    assert third.time_ms == t + 1000


def test_stale_markers_and_inf_are_dropped_and_counted() -> None:
    t = now_ms()
    request = write_request(({"__name__": "m"}, [(STALE_NAN, t), (math.inf, t), (2.0, t)]))
    out = remote_write.translate_request(request, now_ms=t, limits=LIMITS)
    assert [s.value for s in out.samples] == [2.0]
    assert out.dropped_non_finite == 2


def test_a_series_without_a_name_is_refused() -> None:
    request = write_request(({"job": "x"}, [(1, now_ms())]))
    with pytest.raises(IngestError, match=r"timeseries\[0\]\.labels\.__name__"):
        remote_write.translate_request(request, now_ms=now_ms(), limits=LIMITS)


def test_snappy_bomb_is_refused_before_decompressing() -> None:
    # A 5-byte header claiming 4 GiB of output.
    with pytest.raises(IngestError) as caught:
        remote_write.decode_body(b"\xff\xff\xff\xff\x0f" + b"\x00" * 10, "snappy", 1024)
    assert caught.value.status == 413


async def test_post_answers_204_and_hands_samples_on(light_harness: IngestHarness) -> None:
    t = now_ms()
    request = write_request(
        ({"__name__": "node_cpu_seconds_total", "instance": "h:9100", "cpu": "0"}, [(12.5, t)])
    )
    response = await light_harness.client.post(
        "/api/v1/write",
        content=snappy(request),
        headers={
            **light_harness.auth(),
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        },
    )
    assert response.status_code == 204, response.text
    [sample] = light_harness.pipeline.samples
    assert (sample.host, sample.name, dict(sample.labels), sample.value) == (
        "h:9100",
        "node_cpu_seconds_total",
        {"cpu": "0"},
        12.5,
    )
    assert light_harness.pipeline.batches[0].protocol == "remote_write"
