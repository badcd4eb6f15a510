"""hypothesis on every parser that reads what the outside world sends.

For each: any input (random bytes, random JSON, random protobuf messages, valid messages with
broken references) ends as a result or as the parser's own clear refusal (an `IngestError`
with a 4xx and a message, a `ConfigError`, a `ClientMessageError`), never another exception;
and valid generated inputs round-trip (what is decoded is what was encoded).

Pure functions, no I/O but temp config files: the HTTP layer above them is covered by
tests/fuzz/test_schemathesis.py. Reproducible: `derandomize=True` (a fixed seed); the example count
comes from FUZZ_PARSER_EXAMPLES (default 200 per property).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import cramjam
import orjson
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from backend.ingest import (
    json_report,
    otlp,
    remote_write,
    remote_write_v2,
    report_schema_check,
    scrape,
)
from backend.ingest.limits import IngestError, IngestLimits, decode_content_encoding
from backend.live.messages import ClientMessageError, Ping, Subscribe, parse_client_message
from backend.protos.remote_pb2 import WriteRequest
from backend.protos.write_v2_pb2 import Request
from backend.settings import load_settings
from conventions.settings_sources import ConfigError
from exporter.config import load_config

T = TypeVar("T")

pytestmark = [pytest.mark.slow]  # ~4,000 generated inputs in all

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_PARSER_EXAMPLES", "200")),
    deadline=None,  # a loaded shared machine: time is the bench's business, not the test's
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
LIMITS = IngestLimits(max_body_bytes=256 * 1024)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=30,
)
# Label and metric names as Prometheus allows them; values any storable text.
names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,30}", fullmatch=True)
label_values = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


def now_ms() -> int:
    return int(time.time() * 1000)


def refused_or(call: Callable[[], T]) -> T | None:
    """`call()`, or None when it raised the clear refusal: an IngestError with a 4xx and a
    message. Anything else propagates and fails the test."""
    try:
        return call()
    except IngestError as exc:
        refusal = exc
    assert 400 <= refusal.status < 500, refusal
    assert refusal.detail.strip()
    return None


def dumps(document: Any) -> bytes:
    """JSON as any sender may write it: the stdlib keeps integers beyond 64 bits and escapes
    unpaired surrogates (orjson refuses both)."""
    return json.dumps(document).encode()


# ---- agent JSON ---------------------------------------------------------------------------


def _translate_agent_body(body: bytes) -> list[json_report.TranslatedReport]:
    raw = decode_content_encoding(body, None, LIMITS.max_body_bytes)
    document = json_report.parse_json(raw)
    checked = report_schema_check.validate_document(document)
    checked = checked and not report_schema_check.may_contain_nul(raw)
    return json_report.translate_document(
        document, now_ms=now_ms(), limits=LIMITS, shape_checked=checked
    )


@FUZZ
@given(st.binary(max_size=2048))
def test_agent_json_any_bytes(body: bytes) -> None:
    refused_or(lambda: _translate_agent_body(body))


@FUZZ
@given(json_values)
def test_agent_json_any_json(document: Any) -> None:
    refused_or(lambda: _translate_agent_body(dumps(document)))


def _agent_document(host: str, values: list[float], at_ms: int) -> dict[str, Any]:
    seconds, millis = divmod(at_ms, 1000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
    points = [
        {"attributes": {"cpu.logical_number": str(i)}, "value": v} for i, v in enumerate(values)
    ]
    metric = {"name": "system.cpu.utilization", "unit": "1", "type": "gauge", "points": points}
    return {
        "schema_version": 1,
        "agent": {"name": "hostpulse-exporter", "version": "0.1.0", "instance_id": "i-1"},
        "reports": [
            {
                "seq": 1,
                "timestamp": stamp,
                "host": {"name": host, "id": "x"},
                "metrics": [metric],
                "processes": [],
                "collectors": [],
            }
        ],
    }


@FUZZ
@given(
    host=label_values.filter(bool),
    values=st.lists(st.floats(0, 1), min_size=1, max_size=8),
    mutation=st.sampled_from(["none", "drop_key", "wrong_type", "nul"]),
)
def test_agent_json_valid_round_trips_and_mutations_are_refused(
    host: str, values: list[float], mutation: str
) -> None:
    document = _agent_document(host, values, now_ms())
    point = document["reports"][0]["metrics"][0]["points"][0]
    if mutation == "drop_key":
        del point["value"]
    elif mutation == "wrong_type":
        point["value"] = str(point["value"])
    elif mutation == "nul":
        document["reports"][0]["host"]["name"] = host + "\x00"
    result = refused_or(lambda: _translate_agent_body(dumps(document)))
    if mutation != "none":
        assert result is None, f"{mutation} was accepted"
        return
    assert result is not None
    [report] = result
    got = [(s.host, s.labels["cpu_logical_number"], s.value) for s in report.samples]
    assert sorted(got) == sorted((host, str(i), v) for i, v in enumerate(values))


# ---- OTLP ---------------------------------------------------------------------------------


def _translate_otlp(body: bytes, kind: str) -> otlp.OtlpTranslation:
    return otlp.translate_request(otlp.decode_request(body, kind), now_ms=now_ms(), limits=LIMITS)


@FUZZ
@given(st.binary(max_size=2048), st.sampled_from([otlp.PROTOBUF, otlp.JSON]))
def test_otlp_any_bytes(body: bytes, kind: str) -> None:
    refused_or(lambda: _translate_otlp(body, kind))


@FUZZ
@given(json_values)
def test_otlp_any_json(document: Any) -> None:
    refused_or(lambda: _translate_otlp(dumps(document), otlp.JSON))


@FUZZ
@given(
    st.lists(
        st.tuples(names, st.dictionaries(names, label_values, max_size=3), finite | st.integers()),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([otlp.PROTOBUF, otlp.JSON]),
)
def test_otlp_valid_gauges_round_trip(
    points: list[tuple[str, dict[str, str], float | int]], kind: str
) -> None:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.add(key="host.name").value.string_value = "web-1"
    scope = resource.scope_metrics.add()
    t_ns = now_ms() * 1_000_000
    for name, attributes, value in points:
        data_point = scope.metrics.add(name=name).gauge.data_points.add(time_unix_nano=t_ns)
        if isinstance(value, int):
            data_point.as_int = max(min(value, 2**63 - 1), -(2**63))
        else:
            data_point.as_double = value
        for key, text in attributes.items():
            data_point.attributes.add(key=key).value.string_value = text
    body = (
        request.SerializeToString()
        if kind == otlp.PROTOBUF
        else json_format.MessageToJson(request).encode()  # int64 as strings, as the spec says
    )
    out = _translate_otlp(body, kind)
    assert out.rejected_points == 0
    expected = [
        float(max(min(v, 2**63 - 1), -(2**63))) if isinstance(v, int) else v for _, _, v in points
    ]
    assert [s.value for s in out.samples] == expected
    assert [dict(s.labels) for s in out.samples] == [a for _, a, _ in points]


# ---- remote_write: the snappy layer, then the protobuf layer ------------------------------


@FUZZ
@given(st.binary(max_size=4096))
def test_snappy_layer_any_bytes(body: bytes) -> None:
    refused_or(lambda: remote_write.unsnappy(body, "snappy", LIMITS.max_body_bytes))


@FUZZ
@given(st.binary(max_size=4096))
def test_snappy_layer_round_trips(payload: bytes) -> None:
    compressed = bytes(cramjam.snappy.compress_raw(payload))
    assert remote_write.unsnappy(compressed, "snappy", LIMITS.max_body_bytes) == payload


@FUZZ
@given(st.binary(max_size=2048))
def test_protobuf_layer_v1_any_bytes(raw: bytes) -> None:
    def run() -> Any:
        request = remote_write.parse_request(raw)
        return remote_write.translate_request(request, now_ms=now_ms(), limits=LIMITS)

    refused_or(run)


@FUZZ
@given(st.binary(max_size=2048))
def test_protobuf_layer_v2_any_bytes(raw: bytes) -> None:
    def run() -> Any:
        request = remote_write_v2.parse_request(raw)
        return remote_write_v2.translate_request(request, now_ms=now_ms(), limits=LIMITS)

    refused_or(run)


@FUZZ
@given(
    symbols=st.lists(st.text(max_size=10), max_size=8),
    refs=st.lists(st.lists(st.integers(0, 12), max_size=7), min_size=1, max_size=4),
    help_ref=st.none() | st.integers(0, 12),
    values=st.lists(finite | st.just(math.nan), max_size=3),
)
def test_v2_arbitrary_references_are_stored_or_refused(
    symbols: list[str], refs: list[list[int]], help_ref: int | None, values: list[float]
) -> None:
    """Well-formed protobuf with arbitrary symbol tables and references: out-of-range or odd
    references must be a 400 naming the field, never an IndexError."""
    request = Request(symbols=symbols)
    t = now_ms()
    for series_refs in refs:
        series = request.timeseries.add(labels_refs=series_refs)
        for value in values:
            series.samples.add(value=value, timestamp=t)
        if help_ref is not None:
            series.metadata.help_ref = help_ref
    refused_or(lambda: remote_write_v2.translate_request(request, now_ms=t, limits=LIMITS))


series_strategy = st.lists(
    st.tuples(names, st.dictionaries(names, label_values.filter(bool), max_size=4), finite),
    min_size=1,
    max_size=6,
)


def _expected(series: list[tuple[str, dict[str, str], float]]) -> list[tuple[Any, ...]]:
    out = []
    for name, labels, value in series:
        kept = {k: v for k, v in labels.items() if k != "__name__"}
        host = kept.get("host_name", kept.get("instance", ""))
        for key in ("host_name", "instance"):
            if key in kept and kept[key] == host:
                del kept[key]
                break
        out.append((host, name, kept, value))
    return out


@FUZZ
@given(series_strategy)
def test_remote_write_v1_round_trips(series: list[tuple[str, dict[str, str], float]]) -> None:
    t = now_ms()
    request = WriteRequest()
    for name, labels, value in series:
        ts = request.timeseries.add()
        for key, text in {**labels, "__name__": name}.items():
            ts.labels.add(name=key, value=text)
        ts.samples.add(value=value, timestamp=t)
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    decoded = remote_write.decode_body(body, "snappy", LIMITS.max_body_bytes)
    out = remote_write.translate_request(decoded, now_ms=t, limits=LIMITS)
    assert [(s.host, s.name, dict(s.labels), s.value) for s in out.samples] == _expected(series)


@FUZZ
@given(series_strategy)
def test_remote_write_v2_round_trips(series: list[tuple[str, dict[str, str], float]]) -> None:
    t = now_ms()
    symbols = [""]

    def ref(text: str) -> int:
        if text not in symbols:
            symbols.append(text)
        return symbols.index(text)

    request = Request()
    for name, labels, value in series:
        pairs = sorted({**labels, "__name__": name}.items())
        ts = request.timeseries.add(labels_refs=[ref(x) for pair in pairs for x in pair])
        ts.samples.add(value=value, timestamp=t)
    request.symbols.extend(symbols)
    raw = remote_write.unsnappy(
        bytes(cramjam.snappy.compress_raw(request.SerializeToString())), None, 1 << 20
    )
    out = remote_write_v2.translate_request(
        remote_write_v2.parse_request(raw), now_ms=t, limits=LIMITS
    )
    assert [(s.host, s.name, dict(s.labels), s.value) for s in out.samples] == _expected(series)
    assert out.samples_written == len(series)


# ---- the scraper's Prometheus text parser -------------------------------------------------


@FUZZ
@given(st.text(max_size=400))
def test_scrape_parser_any_text(text: str) -> None:
    try:
        scrape.parse_exposition(text, host="h", instance="h:1", time_ms=now_ms())
    except scrape.ExpositionError as exc:
        message = str(exc)
    else:
        return
    assert message.startswith("not valid Prometheus text format")


@FUZZ
@given(
    st.lists(
        st.tuples(names, st.sampled_from(["gauge", "counter"]), label_values, finite),
        min_size=1,
        max_size=5,
        unique_by=lambda m: m[0].removesuffix("_total"),
    )
)
def test_scrape_parser_round_trips_prometheus_client_output(
    metrics: list[tuple[str, str, str, float]],
) -> None:
    registry = CollectorRegistry()
    expected = {}
    for name, kind, label, value in metrics:
        if kind == "gauge":
            Gauge(name, "doc", ["l"], registry=registry).labels(label).set(value)
            expected[name] = (label, value)
        else:
            counter = Counter(name, "doc", ["l"], registry=registry)
            counter.labels(label).inc(abs(value))
            expected[name.removesuffix("_total") + "_total"] = (label, abs(value))
    text = generate_latest(registry).decode()
    samples = scrape.parse_exposition(text, host="h", instance="h:1", time_ms=now_ms())
    got = {s.name: (s.labels["l"], s.value) for s in samples if s.name in expected}
    assert got == expected


# ---- config files -------------------------------------------------------------------------


def _with_file(content: bytes, suffix: str, load: Callable[[Path], Any]) -> Any:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"config{suffix}"
        path.write_bytes(content)
        return load(path)


LOADERS: dict[str, Callable[[Path], Any]] = {
    "exporter": lambda path: load_config(path),
    "backend": lambda path: load_settings(path),
}


@pytest.mark.parametrize("component", sorted(LOADERS))
@FUZZ
@given(
    content=st.binary(max_size=300)
    | json_values.map(dumps)
    | st.dictionaries(
        st.sampled_from(["port", "interval", "log_level", "database_url", "push", "max_body"]),
        json_values,
        max_size=3,
    ).map(dumps),
    suffix=st.sampled_from([".yaml", ".json", ".yml"]),
)
def test_config_files_load_or_give_one_clear_error(
    component: str, content: bytes, suffix: str
) -> None:
    try:
        _with_file(content, suffix, LOADERS[component])
    except ConfigError as exc:
        message = str(exc).strip()
    else:
        return
    assert message
    assert "\n" not in message, message  # one line, as the CLI prints it


@FUZZ
@given(st.integers(1, 65535))
def test_backend_settings_file_round_trips_a_port(port: int) -> None:
    document = {"port": port, "database_url": "postgresql://hostpulse@db.example/hostpulse"}
    settings_ = _with_file(orjson.dumps(document), ".json", LOADERS["backend"])
    assert settings_.port == port


# ---- WebSocket client messages ------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=600) | st.text(max_size=600) | json_values.map(dumps))
def test_websocket_any_message(message: str | bytes) -> None:
    try:
        parsed = parse_client_message(message)
    except ClientMessageError as exc:
        detail = str(exc)
    else:
        assert isinstance(parsed, (Subscribe, Ping))
        return
    assert detail


@FUZZ
@given(
    hosts=st.lists(st.text(min_size=1, max_size=50), max_size=20) | st.just("*"),
    version=st.sampled_from([1, 2]),
    summary=st.booleans(),
)
def test_websocket_subscriptions_round_trip(
    hosts: list[str] | str, version: int, summary: bool
) -> None:
    message: dict[str, Any] = {"type": "subscribe", "hosts": hosts}
    if version == 2:
        message.update(v=2, summary=summary)
    parsed = parse_client_message(orjson.dumps(message))
    assert isinstance(parsed, Subscribe)
    assert parsed.hosts == (hosts if hosts == "*" else frozenset(hosts))
    assert parsed.version == version
    assert parsed.summary == (summary and version == 2)
