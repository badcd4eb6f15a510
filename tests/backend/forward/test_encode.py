"""Accepted samples → remote_write bodies: selection, labels, order, batching (pure)."""

from __future__ import annotations

from typing import Any

import cramjam

from backend.forward.encode import TargetEncoder, series_labels
from backend.forward.settings import ForwardTarget, MetricSelection
from backend.model import Sample
from backend.protos.remote_pb2 import WriteRequest


def decode(body: bytes) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    request: Any = WriteRequest()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return [
        (
            {label.name: label.value for label in series.labels},
            [(sample.timestamp, sample.value) for sample in series.samples],
        )
        for series in request.timeseries
    ]


def target(**kw: Any) -> ForwardTarget:
    return ForwardTarget(url="http://127.0.0.1:9/api/v1/write", **kw)


def test_labels_are_sorted_with_the_host_and_extra_labels_that_do_not_override() -> None:
    labels = series_labels(
        "cpu_ratio", "web-1", {"zone": "a", "cpu": "0"}, {"hostpulse_host": "hp", "zone": "x"}
    )
    assert labels == [
        ("__name__", "cpu_ratio"),
        ("cpu", "0"),
        ("host_name", "web-1"),
        ("hostpulse_host", "hp"),
        ("zone", "a"),
    ]
    assert ("host_name", "") not in series_labels("m", "", {}, {})


def test_selection_by_name_match_then_drop() -> None:
    encoder = TargetEncoder(
        target(metrics=MetricSelection(match=["system_.*"], drop=["system_disk_.*"]))
    )
    samples = [
        Sample("h", "system_cpu_ratio", {}, 1000, 0.5),
        Sample("h", "system_disk_io_bytes", {}, 1000, 7.0),
        Sample("h", "process_count", {}, 1000, 3.0),
    ]
    [body] = encoder.encode(samples)
    assert [labels["__name__"] for labels, _ in decode(body.body)] == ["system_cpu_ratio"]
    assert body.samples == 1
    assert TargetEncoder(target(metrics=MetricSelection(match=["nothing"]))).encode(samples) == []


def test_series_keep_time_order_across_bodies_of_batch_size() -> None:
    encoder = TargetEncoder(target(batch_samples=3))
    samples = [Sample("h", "a", {"k": "1"}, t, float(t)) for t in (5, 1, 3, 2, 4)]
    samples.insert(2, Sample("h", "b", {}, 9, 9.0))
    bodies = encoder.encode(samples)
    assert [b.samples for b in bodies] == [3, 3]
    points = [
        p for b in bodies for labels, ps in decode(b.body) if labels["__name__"] == "a" for p in ps
    ]
    assert points == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0)]
    assert bodies[0].oldest_ms == 1
    assert [labels["k"] for labels, _ in decode(bodies[0].body)] == ["1"]
