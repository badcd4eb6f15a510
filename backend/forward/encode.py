"""Accepted samples → remote_write 1.0 request bodies for one target (pure: no I/O).

Each target selects metrics by name, adds its extra labels, and gets the host as the `host_name`
label. A request body is a snappy *block* compressed `prometheus.WriteRequest`; labels are sorted
by name and each series' samples by time, as the specification requires. A series' samples keep
their order across the bodies of one call, so sending the bodies in order keeps it per series.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cramjam

from backend.forward.settings import ForwardTarget
from backend.model import Sample, SeriesKey, as_columns
from backend.protos.remote_pb2 import WriteRequest

HOST_LABEL = "host_name"


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    body: bytes  # snappy block of a serialized WriteRequest
    samples: int
    oldest_ms: int  # the oldest sample timestamp in it


@dataclass(frozen=True, slots=True)
class _Series:
    labels: Mapping[str, str]
    points: list[tuple[int, float]]


class NameFilter:
    """`match` (all when empty) minus `drop`, full-match regexes; decisions cached per name."""

    def __init__(self, match: Sequence[str], drop: Sequence[str]) -> None:
        self._match = re.compile("|".join(f"(?:{m})" for m in match)) if match else None
        self._drop = re.compile("|".join(f"(?:{d})" for d in drop)) if drop else None
        self._decided: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        decided = self._decided.get(name)
        if decided is None:
            decided = (self._match is None or self._match.fullmatch(name) is not None) and (
                self._drop is None or self._drop.fullmatch(name) is None
            )
            if len(self._decided) < 100_000:
                self._decided[name] = decided
        return decided


def series_labels(
    name: str, host: str, labels: Mapping[str, str], extra: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The series' remote_write labels, sorted by name: `__name__`, the sample's own labels, the
    host as `host_name`, then `extra` where the series has no such label already."""
    merged = dict(labels)
    if host:
        merged.setdefault(HOST_LABEL, host)
    for key, value in extra.items():
        merged.setdefault(key, value)
    merged["__name__"] = name
    return sorted(merged.items())


class TargetEncoder:
    def __init__(self, target: ForwardTarget) -> None:
        self.target = target
        self._selects = NameFilter(target.metrics.match, target.metrics.drop)
        self._extra = dict(target.extra_labels)

    def encode(self, samples: Sequence[Sample]) -> list[EncodedBatch]:
        """The request bodies (≤ `batch_samples` samples each) for the selected `samples`."""
        return list(self._bodies(self._group(samples)))

    def _group(self, samples: Sequence[Sample]) -> dict[SeriesKey, _Series]:
        """The selected samples by series, in order of each series' first sample."""
        columns = as_columns(samples)
        by_series: dict[SeriesKey, _Series] = {}
        for key, labels, time_ms, value in zip(
            columns.keys, columns.labels, columns.times, columns.values, strict=True
        ):
            if not self._selects(key[0]):
                continue
            series = by_series.get(key)
            if series is None:
                series = by_series[key] = _Series(labels, [])
            series.points.append((time_ms, value))
        return by_series

    def _bodies(self, by_series: dict[SeriesKey, _Series]) -> Iterator[EncodedBatch]:
        limit = self.target.batch_samples
        request = WriteRequest()
        count = 0
        oldest = 0
        for key, found in by_series.items():
            points = sorted(found.points, key=lambda point: point[0])  # stable: ties keep order
            labels = series_labels(key[0], key[1], found.labels, self._extra)
            start = 0
            while start < len(points):
                take = points[start : start + limit - count]
                series = request.timeseries.add()
                for label_name, label_value in labels:
                    series.labels.add(name=label_name, value=label_value)
                for time_ms, value in take:
                    series.samples.add(value=value, timestamp=time_ms)
                oldest = take[0][0] if count == 0 else min(oldest, take[0][0])
                count += len(take)
                start += len(take)
                if count >= limit:
                    yield _finish(request, count, oldest)
                    request = WriteRequest()
                    count = 0
        if count:
            yield _finish(request, count, oldest)


def _finish(request: Any, count: int, oldest: int) -> EncodedBatch:
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    return EncodedBatch(body=body, samples=count, oldest_ms=oldest)
