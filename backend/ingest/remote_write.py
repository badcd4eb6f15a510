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


@dataclass(slots=True)
class RemoteWriteTranslation:
    samples: list[Sample] = field(default_factory=list)
    dropped_non_finite: int = 0

    def batch(self) -> IngestBatch:
        return IngestBatch(protocol="remote_write", samples=self.samples)


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> Any:
    """The `WriteRequest` of a snappy-compressed body (a dynamic protobuf message)."""
    encoding = (content_encoding or "snappy").strip().lower()
    if encoding != "snappy":
        raise unsupported(f"Content-Encoding: {encoding!r}; remote_write 1.0 requires snappy")
    raw = snappy_unblock_limited(body, max_bytes)
    request = WriteRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        raise bad_request(f"body: not a valid remote_write WriteRequest protobuf ({exc})") from exc
    return request


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
        host = next((labels[key] for key in HOST_LABELS if key in labels), "")
        check_text(host, f"{where}.labels.host_name")
        for key in HOST_LABELS:
            if key in labels and labels[key] == host:
                del labels[key]
                break
        check_labels(labels, limits, f"{where}.labels")
        for s_index, sample in enumerate(series.samples):
            value = float(sample.value)
            if not math.isfinite(value):
                out.dropped_non_finite += 1  # stale markers and +-Inf
                continue
            check_time(sample.timestamp, now_ms, limits, f"{where}.samples[{s_index}].timestamp")
            out.samples.append(Sample(host, name, labels, int(sample.timestamp), value))
    return out
