"""Prometheus remote_write 2.0 (`io.prometheus.write.v2.Request`, snappy block) → `IngestBatch`.

Strings come from the request's `symbols` table: every `*_ref(s)` is an index into it, and a
reference outside it, an odd `labels_refs`, or a series without `__name__` refuses the whole
request with 400 naming the field (the spec: such a request is malformed, not retryable).
Host and labels follow 1.0 (`host_name`, else `instance`). What is stored and what is counted in the
`X-Prometheus-Remote-Write-*-Written` headers:
- float samples: stored (NaN/Inf, e.g. stale markers, dropped and not counted as written);
- native histograms: stored as `<name>_count` and `<name>_sum` (buckets are not kept), counted;
- exemplars: validated (their label refs), not stored, so 0 written;
- metadata (type, help, unit) and created timestamps: validated, not stored.
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
    check_time,
    unprocessable,
)
from backend.ingest.remote_write import take_host
from backend.model import IngestBatch, Sample
from backend.protos.write_v2_pb2 import Request


@dataclass(slots=True)
class RemoteWriteV2Translation:
    samples: list[Sample] = field(default_factory=list)
    samples_written: int = 0  # float samples stored
    histograms_written: int = 0  # native histograms stored (as _count and _sum)
    exemplars_written: int = 0  # always 0: exemplars are not stored
    dropped_non_finite: int = 0

    def batch(self) -> IngestBatch:
        return IngestBatch(protocol="remote_write", samples=self.samples)

    def written_headers(self) -> dict[str, str]:
        return written_headers(
            self.samples_written, self.histograms_written, self.exemplars_written
        )


def written_headers(samples: int = 0, histograms: int = 0, exemplars: int = 0) -> dict[str, str]:
    """The response headers a 2.0 sender reads to confirm what was stored (0s on refusal)."""
    return {
        "X-Prometheus-Remote-Write-Samples-Written": str(samples),
        "X-Prometheus-Remote-Write-Histograms-Written": str(histograms),
        "X-Prometheus-Remote-Write-Exemplars-Written": str(exemplars),
    }


def parse_request(raw: bytes) -> Any:
    """The protobuf layer alone: decompressed bytes → `Request`, or 400."""
    request = Request()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        raise bad_request(
            f"body: not a valid remote_write 2.0 io.prometheus.write.v2.Request ({exc})"
        ) from exc
    return request


def _symbol(symbols: Any, ref: int, where: str) -> str:
    if ref >= len(symbols):
        raise bad_request(f"{where}: symbol reference {ref} outside symbols (size {len(symbols)})")
    text: str = symbols[ref]
    return text


def _label_pairs(symbols: Any, refs: Any, where: str) -> dict[str, str]:
    if len(refs) % 2:
        raise bad_request(f"{where}: {len(refs)} references, not name/value pairs")
    labels: dict[str, str] = {}
    for i in range(0, len(refs), 2):
        name = _symbol(symbols, refs[i], f"{where}[{i}]")
        labels[name] = _symbol(symbols, refs[i + 1], f"{where}[{i + 1}]")
    return labels


def translate_request(
    request: Any, *, now_ms: int, limits: IngestLimits
) -> RemoteWriteV2Translation:
    symbols = request.symbols
    if symbols and symbols[0] != "":
        raise bad_request("symbols[0]: must be the empty string (remote_write 2.0)")
    out = RemoteWriteV2Translation()
    for index, series in enumerate(request.timeseries):
        where = f"timeseries[{index}]"
        labels = _label_pairs(symbols, series.labels_refs, f"{where}.labels_refs")
        if len(labels) > limits.max_labels + 2:  # + __name__ and the host label
            raise unprocessable(
                f"{where}.labels: {len(labels)} labels, more than {limits.max_labels}"
            )
        name = labels.pop("__name__", "")
        if not name:
            raise bad_request(f"{where}.labels_refs: the series has no __name__ label")
        check_name(name, limits, f"{where}.labels.__name__")
        host = take_host(labels, where)
        check_labels(labels, limits, f"{where}.labels")
        _check_metadata(symbols, series, where)
        if series.created_timestamp < 0:
            raise unprocessable(f"{where}.created_timestamp: negative ({series.created_timestamp})")
        for e_index, exemplar in enumerate(series.exemplars):
            ex_labels = _label_pairs(
                symbols, exemplar.labels_refs, f"{where}.exemplars[{e_index}].labels_refs"
            )
            check_labels(ex_labels, limits, f"{where}.exemplars[{e_index}].labels")
        if series.samples and series.histograms:
            raise bad_request(f"{where}: has both samples and histograms (one or the other)")
        for s_index, sample in enumerate(series.samples):
            value = float(sample.value)
            if not math.isfinite(value):
                out.dropped_non_finite += 1
                continue
            check_time(sample.timestamp, now_ms, limits, f"{where}.samples[{s_index}].timestamp")
            out.samples.append(Sample(host, name, labels, int(sample.timestamp), value))
            out.samples_written += 1
        for h_index, histogram in enumerate(series.histograms):
            at = f"{where}.histograms[{h_index}]"
            check_time(histogram.timestamp, now_ms, limits, f"{at}.timestamp")
            count = (
                float(histogram.count_float)
                if histogram.WhichOneof("count") == "count_float"
                else float(histogram.count_int)
            )
            total = float(histogram.sum)
            if not (math.isfinite(count) and math.isfinite(total)):
                out.dropped_non_finite += 1  # a stale marker histogram
                continue
            check_name(name + "_count", limits, f"{where}.labels.__name__")
            t = int(histogram.timestamp)
            out.samples.append(Sample(host, name + "_count", labels, t, count))
            out.samples.append(Sample(host, name + "_sum", labels, t, total))
            out.histograms_written += 1
    return out


def _check_metadata(symbols: Any, series: Any, where: str) -> None:
    if not series.HasField("metadata"):
        return
    metadata = series.metadata
    _symbol(symbols, metadata.help_ref, f"{where}.metadata.help_ref")
    _symbol(symbols, metadata.unit_ref, f"{where}.metadata.unit_ref")
