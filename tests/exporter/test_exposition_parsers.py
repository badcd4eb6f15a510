"""The exporter's `/metrics` read back by prometheus-client's own parsers: the Prometheus text
parser for the default answer, the OpenMetrics parser when the scraper sends
`Accept: application/openmetrics-text` (promtool's check is in test_prometheus_sink.py).

Served over real HTTP by the sink; plus hypothesis snapshots with hostile label values (quotes,
backslashes, newlines, any Unicode) and any finite value, rendered by the fast encoder and
parsed back by both parsers to the same labels and numbers."""

from __future__ import annotations

import gzip
import math
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families as parse_text

from conventions.naming import Kind
from exporter.config import PrometheusConfig
from exporter.model import CollectorResult, Metric, Point, Snapshot
from exporter.sinks.prometheus import PrometheusSink, build_registry
from exporter.sinks.prometheus_text import render_openmetrics, render_text
from tests.conftest import free_port
from tests.exporter.golden.snapshot import SERVICE_VERSION, golden_snapshot


def parse_openmetrics(text: str) -> list[Any]:
    """prometheus-client's OpenMetrics parser (untyped upstream); raises on any violation."""
    return list(openmetrics_parser.text_string_to_metric_families(text))  # type: ignore[no-untyped-call]


OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


@pytest.fixture
def sink() -> Iterator[PrometheusSink]:
    config = PrometheusConfig(listen=f"127.0.0.1:{free_port()}").options()
    running = PrometheusSink(config, service_version=SERVICE_VERSION)
    running.start()
    try:
        yield running
    finally:
        running.shutdown(5.0)


def _get(url: str, headers: dict[str, str]) -> tuple[str, bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return response.headers["Content-Type"], body


def _samples(families: Iterable[Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in families:
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_served_text_and_openmetrics_parse_to_the_same_samples(sink: PrometheusSink) -> None:
    sink.submit(golden_snapshot())
    url = f"http://127.0.0.1:{sink.port}/metrics"
    text_type, text = _get(url, {})
    om_type, om = _get(url, {"Accept": OPENMETRICS_ACCEPT, "Accept-Encoding": "gzip"})
    assert text_type.startswith("text/plain; version=0.0.4")
    assert om_type.startswith("application/openmetrics-text; version=1.0.0")

    from_text = _samples(parse_text(text.decode()))
    from_om = _samples(parse_openmetrics(om.decode()))  # raises on any OpenMetrics violation
    assert len(from_text) > 25
    # OpenMetrics adds `_created` samples for counters; every text sample is there, same value.
    assert {k: v for k, v in from_om.items() if k in from_text} == from_text
    assert set(from_text) <= set(from_om)


def test_openmetrics_families_carry_type_and_unit(sink: PrometheusSink) -> None:
    sink.submit(golden_snapshot())
    url = f"http://127.0.0.1:{sink.port}/metrics"
    _, om = _get(url, {"Accept": OPENMETRICS_ACCEPT})
    families = {f.name: f for f in parse_openmetrics(om.decode())}
    assert families["system_cpu_time_seconds"].type == "counter"
    assert families["system_cpu_time_seconds"].unit == "seconds"


hostile_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    points=st.lists(
        st.tuples(hostile_text, st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=5,
        unique_by=lambda p: p[0],
    ),
    kind=st.sampled_from([Kind.GAUGE, Kind.COUNTER]),
)
def test_hostile_label_values_survive_both_parsers(
    points: list[tuple[str, float]], kind: Kind
) -> None:
    values = [abs(v) if kind == Kind.COUNTER else v for _, v in points]
    metric = Metric(
        "test.value",
        "By",
        kind,
        'a "help" text with \\ and\nnewline',
        [Point(v, {"label.name": label}) for (label, _), v in zip(points, values, strict=True)],
    )
    snapshot = Snapshot(0.0, "h", "i", [CollectorResult("c", [metric], 0.01, True)])
    families = list(build_registry(lambda: snapshot, service_version="1").collect())
    name = "test_value_bytes_total" if kind == Kind.COUNTER else "test_value_bytes"
    expected = {label: value for (label, _), value in zip(points, values, strict=True)}

    for parsed in (
        parse_text(render_text(families).decode()),
        parse_openmetrics(render_openmetrics(families).decode()),
    ):
        got = {s.labels["label_name"]: s.value for f in parsed for s in f.samples if s.name == name}
        assert got.keys() == expected.keys()
        for label, value in expected.items():
            assert (
                math.isclose(got[label], value, rel_tol=1e-15, abs_tol=0.0) or got[label] == value
            )
