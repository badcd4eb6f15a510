"""Prometheus remote_write 1.0 (snappy block-compressed protobuf `WriteRequest`) → `IngestBatch`.

Names and labels arrive Prometheus-style already. The host is the `host_name` label when present,
else `instance`; that label moves to `Sample.host`. NaN/Inf samples are dropped and counted, not
refused: Prometheus sends a special NaN as the stale marker when a series disappears; a 4xx would
make it drop the whole batch. Native histograms and exemplars (prompb fields HostPulse's minimal
proto leaves out) are skipped by the parser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from backend.ingest.limits import (
    IngestLimits,
    bad_request,
    check_labels,
    check_name,
    check_text,
    check_time,
    snappy_unblock_limited,
    unprocessable,
    unsupported,
)
from backend.model import IngestBatch, Sample
from backend.protos.remote_pb2 import WriteRequest

HOST_LABELS = ("host_name", "instance")


def take_host(labels: dict[str, str], where: str) -> str:
    """The series' host: its first label of HOST_LABELS, removed from `labels` ("" if none)."""
    host = next((labels[key] for key in HOST_LABELS if key in labels), "")
    check_text(host, f"{where}.labels.host_name")
    for key in HOST_LABELS:
        if key in labels and labels[key] == host:
            del labels[key]
            break
    return host


@dataclass(slots=True)
class RemoteWriteTranslation:
    samples: list[Sample] = field(default_factory=list)
    dropped_non_finite: int = 0

    def batch(self) -> IngestBatch:
        return IngestBatch(protocol="remote_write", samples=self.samples)


V1 = "prometheus.WriteRequest"
V2 = "io.prometheus.write.v2.Request"
PROTOBUF = "application/x-protobuf"


def message_type(content_type: str | None) -> str:
    """`V1` or `V2` from the Content-Type's `proto=` parameter (case-insensitive media type); 415
    for anything else, so a 2.0 sender falls back to 1.0 instead of its data being misread.
    A missing Content-Type is 1.0, as Prometheus' own receiver reads it."""
    if content_type is None or not content_type.strip():
        return V1
    media, _, params = content_type.partition(";")
    if media.strip().lower() != PROTOBUF:
        raise unsupported(
            f"Content-Type: {media.strip()!r}; remote_write needs {PROTOBUF} "
            f"(proto={V1} or proto={V2})"
        )
    proto = V1
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "proto":
            proto = value.strip().strip('"')
    if proto not in (V1, V2):
        raise unsupported(f"Content-Type: proto={proto!r} is not supported; use {V1} or {V2}")
    return proto


def unsnappy(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The snappy layer alone (block format; a missing Content-Encoding means snappy)."""
    encoding = (content_encoding or "snappy").strip().lower()
    if encoding != "snappy":
        raise unsupported(f"Content-Encoding: {encoding!r}; remote_write requires snappy")
    return snappy_unblock_limited(body, max_bytes)


def parse_request(raw: bytes) -> Any:
    """The protobuf layer alone: decompressed bytes → 1.0 `WriteRequest`, or 400."""
    request = WriteRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        raise bad_request(f"body: not a valid remote_write WriteRequest protobuf ({exc})") from exc
    return request


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> Any:
    """The `WriteRequest` of a snappy-compressed body (a dynamic protobuf message)."""
    return parse_request(unsnappy(body, content_encoding, max_bytes))


def translate_request(request: Any, *, now_ms: int, limits: IngestLimits) -> RemoteWriteTranslation:
    out = RemoteWriteTranslation()
    for index, series in enumerate(request.timeseries):
        where = f"timeseries[{index}]"
        if len(series.labels) > limits.max_labels + 2:  # + __name__ and the host label
            raise unprocessable(
                f"{where}.labels: {len(series.labels)} labels, more than {limits.max_labels}"
            )
        labels: dict[str, str] = {label.name: label.value for label in series.labels}
        name = labels.pop("__name__", "")
        check_name(name, limits, f"{where}.labels.__name__")
        host = take_host(labels, where)
        check_labels(labels, limits, f"{where}.labels")
        for s_index, sample in enumerate(series.samples):
            value = float(sample.value)
            if not math.isfinite(value):
                out.dropped_non_finite += 1  # stale markers and +-Inf
                continue
            check_time(sample.timestamp, now_ms, limits, f"{where}.samples[{s_index}].timestamp")
            out.samples.append(Sample(host, name, labels, int(sample.timestamp), value))
    return out
