"""The Prometheus output: golden exposition, promtool, and `/metrics` served over HTTP.

Regenerate the golden file after an intended change with:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/exporter/test_prometheus_sink.py
and review the diff of tests/exporter/golden/exposition.prom.
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from conventions.naming import Kind
from exporter.config import PrometheusConfig
from exporter.model import CollectorResult, Metric, Point, Snapshot
from exporter.sinks.prometheus import PrometheusSink, build_registry, parse_listen_address
from exporter.sinks.prometheus_text import render_openmetrics, render_text
from tests.conftest import free_port, require_program
from tests.exporter.golden.snapshot import (
    HOST_ID,
    HOST_NAME,
    SERVICE_VERSION,
    TRICKY_PROCESS_NAME,
    golden_snapshot,
)

GOLDEN = Path(__file__).parent / "golden" / "exposition.prom"
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def promtool_problems(exposition: bytes) -> list[str]:
    """Every complaint `promtool check metrics` has about an exposition."""
    promtool = require_program("promtool")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=60
    )
    lines = (result.stdout + result.stderr).decode().splitlines()
    problems = [line for line in lines if line.strip()]
    assert problems or result.returncode == 0, f"promtool exited {result.returncode}"
    return problems


def _openmetrics(registry: CollectorRegistry) -> bytes:
    body: bytes = generate_openmetrics(registry)  # type: ignore[no-untyped-call]
    return body


def _render(snapshot: Snapshot) -> bytes:
    return generate_latest(build_registry(lambda: snapshot, service_version=SERVICE_VERSION))


def test_exposition_matches_golden_file() -> None:
    exposition = _render(golden_snapshot())
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_bytes(exposition)
    assert exposition == GOLDEN.read_bytes()


def test_promtool_reports_nothing_on_golden_file() -> None:
    assert promtool_problems(GOLDEN.read_bytes()) == []


def test_golden_exposition_carries_what_dashboards_rely_on() -> None:
    families = {f.name: f for f in text_string_to_metric_families(GOLDEN.read_text())}
    assert families["system_cpu_time_seconds"].type == "counter"
    assert families["system_memory_usage_bytes"].type == "gauge"  # an updowncounter
    success = {
        s.labels["collector"]: s.value for s in families["hostpulse_collector_success"].samples
    }
    assert success == {"cpu": 1, "memory": 1, "processes": 1, "network": 1, "disk": 0}
    assert {s.labels["collector"] for s in families["hostpulse_collector_duration_seconds"].samples}
    assert families["target_info"].samples[0].labels == {
        "host_name": HOST_NAME,
        "host_id": HOST_ID,
        "service_name": "hostpulse-exporter",
        "service_version": SERVICE_VERSION,
    }
    processes = families["process_cpu_utilization_ratio"].samples
    assert [(s.labels["rank"], s.labels["process_pid"]) for s in processes] == [
        ("1", "1001"),
        ("2", "1002"),
    ]
    # Quotes, backslash, newline and unicode come back intact after escaping.
    assert processes[1].labels["process_executable_name"] == TRICKY_PROCESS_NAME


def _odd_snapshot() -> Snapshot:
    values = [0.0, -1.5, 1e-9, 123456789.0, 1234567.0, 12345.678, float("nan"), float("inf")]
    return Snapshot(
        timestamp=1.0,
        host_name='h"\\\n',
        host_id="id",
        results=[
            CollectorResult(
                "odd",
                [
                    Metric(
                        "odd.gauge",
                        "1",
                        Kind.GAUGE,
                        'help with "quotes", \\ and\nnewline',
                        [Point(v, {"i": str(i)}) for i, v in enumerate(values)],
                    ),
                    Metric("odd.count", "{thing}", Kind.COUNTER, "c", [Point(3.0)]),
                ],
                0.5,
                True,
            )
        ],
    )


@pytest.mark.parametrize("make_snapshot", [golden_snapshot, _odd_snapshot])
def test_fast_encoder_is_byte_identical_to_prometheus_client(
    make_snapshot: Callable[[], Snapshot],
) -> None:
    snapshot = make_snapshot()
    registry = build_registry(lambda: snapshot, service_version=SERVICE_VERSION)
    families = list(registry.collect())
    assert render_text(families) == generate_latest(registry)
    assert render_openmetrics(families) == _openmetrics(registry)


def test_untranslatable_metrics_are_skipped_not_fatal() -> None:
    good = Metric("ok.metric", "By", Kind.GAUGE, "fine", [Point(1.0, {"n": 7})])  # type: ignore[dict-item]
    clash = Metric("ok.metric", "By", Kind.COUNTER, "a counter with a gauge's name", [Point(1.0)])
    invalid = Metric("9lives", "", Kind.GAUGE, "starts with a digit", [Point(1.0)])
    snapshot = Snapshot(0.0, "h", "i", [CollectorResult("c", [good, clash, invalid], 0.1, True)])
    text = _render(snapshot).decode()
    assert 'ok_metric_bytes{n="7"} 1.0' in text
    assert "9lives" not in text
    assert "ok_metric_bytes_total" not in text
    assert 'hostpulse_collector_success{collector="c"} 1.0' in text


def test_build_registry_never_touches_the_global_registry() -> None:
    before = set(REGISTRY._names_to_collectors)
    first = build_registry(golden_snapshot, service_version="1")
    second = build_registry(golden_snapshot, service_version="1")
    assert first is not second
    assert first is not REGISTRY
    assert set(REGISTRY._names_to_collectors) == before
    assert generate_latest(build_registry(lambda: None, service_version="1")) == b""


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9860", ("127.0.0.1", 9860)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        (":9860", ("0.0.0.0", 9860)),
        ("[::1]:9860", ("::1", 9860)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_parse_listen_address(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(listen) == expected


@pytest.mark.parametrize(
    "listen", ["9860", "::1:9860", "[::1]9860", "host:http", "h:70000", "[]:1"]
)
def test_parse_listen_address_names_the_setting(listen: str) -> None:
    with pytest.raises(ValueError, match=r"prometheus\.listen"):
        parse_listen_address(listen)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def sink() -> Iterator[PrometheusSink]:
    config = PrometheusConfig(listen=f"127.0.0.1:{free_port()}").options()
    sink = PrometheusSink(config, service_version=SERVICE_VERSION)
    sink.start()
    try:
        yield sink
    finally:
        sink.shutdown(5.0)


def test_served_metrics_equal_the_golden_file(sink: PrometheusSink) -> None:
    base = f"http://127.0.0.1:{sink.port}"
    status, headers, body = _get(base + "/metrics")
    assert (status, body) == (200, b"")  # before the first snapshot: nothing, but no error
    sink.submit(golden_snapshot())
    status, headers, body = _get(base + "/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert body == GOLDEN.read_bytes()


def test_gzip_when_the_scraper_accepts_it(sink: PrometheusSink) -> None:
    sink.submit(golden_snapshot())
    url = f"http://127.0.0.1:{sink.port}/metrics"
    status, headers, body = _get(url, {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == GOLDEN.read_bytes()
    assert "Content-Encoding" not in _get(url)[1]


def test_openmetrics_when_asked(sink: PrometheusSink) -> None:
    snapshot = golden_snapshot()
    sink.submit(snapshot)
    url = f"http://127.0.0.1:{sink.port}/metrics"
    status, headers, body = _get(url, {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    expected = _openmetrics(build_registry(lambda: snapshot, service_version="1.2.3"))
    assert gzip.decompress(body) == expected
    assert expected.endswith(b"# EOF\n")
    assert b"# UNIT system_cpu_time_seconds seconds" in expected


def test_name_filter_falls_back_to_prometheus_client(sink: PrometheusSink) -> None:
    sink.submit(golden_snapshot())
    url = f"http://127.0.0.1:{sink.port}/metrics?name[]=system_memory_limit_bytes"
    status, _, body = _get(url)
    assert status == 200
    assert [line for line in body.decode().splitlines() if not line.startswith("#")] == [
        "system_memory_limit_bytes 8e+09"
    ]


def test_a_failed_collector_still_scrapes_with_success_zero(sink: PrometheusSink) -> None:
    snapshot = golden_snapshot()
    broken = CollectorResult("cpu", [], 0.0, False, error="OSError: /proc/stat vanished")
    sink.submit(Snapshot(snapshot.timestamp, HOST_NAME, HOST_ID, [broken, *snapshot.results[1:]]))
    status, _, body = _get(f"http://127.0.0.1:{sink.port}/metrics")
    assert status == 200
    text = body.decode()
    assert 'hostpulse_collector_success{collector="cpu"} 0.0' in text
    assert 'hostpulse_collector_success{collector="memory"} 1.0' in text
    assert "system_cpu_time_seconds_total" not in text
    assert "system_memory_limit_bytes 8e+09" in text


def test_newest_snapshot_replaces_the_previous_one(sink: PrometheusSink) -> None:
    url = f"http://127.0.0.1:{sink.port}/metrics"
    for value in (1.0, 2.0):
        metric = Metric("system.uptime", "s", Kind.GAUGE, "Uptime.", [Point(value)])
        sink.submit(Snapshot(value, "h", "i", [CollectorResult("system", [metric], 0.1, True)]))
        for accept_encoding in ("", "gzip"):  # each cached body is dropped with its snapshot
            _, _, body = _get(url, {"Accept-Encoding": accept_encoding})
            text = gzip.decompress(body) if accept_encoding else body
            assert f"system_uptime_seconds {value}".encode() in text


def test_root_hint_healthz_and_unknown_paths(sink: PrometheusSink) -> None:
    base = f"http://127.0.0.1:{sink.port}"
    assert _get(base + "/healthz")[::2] == (200, b"ok\n")
    status, _, body = _get(base + "/")
    assert status == 200
    assert b"/metrics" in body
    assert _get(base + "/nope")[0] == 404


def test_port_in_use_gives_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        sink = PrometheusSink(PrometheusConfig(listen=listen).options())
        with pytest.raises(OSError, match=rf"prometheus\.listen {listen}: address already in use"):
            sink.start()


def test_serves_on_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 support")
    port = free_port()
    sink = PrometheusSink(PrometheusConfig(listen=f"[::1]:{port}").options())
    try:
        sink.start()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        sink.submit(golden_snapshot())
        status, _, body = _get(f"http://[::1]:{port}/metrics")
        assert status == 200
        assert b"system_cpu_time_seconds_total" in body
    finally:
        sink.shutdown(5.0)


def test_shutdown_stops_serving() -> None:
    port = free_port()
    sink = PrometheusSink(PrometheusConfig(listen=f"127.0.0.1:{port}").options())
    sink.start()
    assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    sink.shutdown(5.0)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
    sink.shutdown(5.0)  # a second shutdown is harmless
