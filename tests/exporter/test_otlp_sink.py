"""The OTLP output pushes OTel names, units, attributes and the resource to real receivers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from opentelemetry import metrics as otel_metrics
from pydantic import SecretStr

from conventions.naming import Kind
from exporter.config import OtlpConfig
from exporter.model import CollectorResult, Metric, Point, Snapshot
from exporter.options import OtlpOptions
from exporter.sinks.otlp import OtlpSink, http_metrics_url, validate_endpoint
from tests.conftest import free_port
from tests.exporter.golden.snapshot import (
    HOST_ID,
    HOST_NAME,
    SERVICE_VERSION,
    TRICKY_PROCESS_NAME,
    golden_snapshot,
)
from tests.exporter.otlp_receivers import (
    GrpcOtlpReceiver,
    HttpOtlpReceiver,
    Received,
    decode_metrics,
    resource_attributes,
)

CUMULATIVE = 2  # AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE in the proto
HEADERS = {"Authorization": "Bearer s3cret", "X-Tenant": "acme"}


@contextmanager
def receiver_and_config(
    protocol: Literal["grpc", "http/protobuf"], **settings: Any
) -> Iterator[tuple[Any, OtlpOptions]]:
    receiver: HttpOtlpReceiver | GrpcOtlpReceiver
    if protocol == "grpc":
        receiver = GrpcOtlpReceiver()
        endpoint = receiver.endpoint
    else:
        receiver = HttpOtlpReceiver()
        endpoint = receiver.url  # a base URL: the sink appends /v1/metrics
    config = OtlpConfig(
        enabled=True,
        protocol=protocol,
        endpoint=endpoint,
        headers={k: SecretStr(v) for k, v in HEADERS.items()},
        **settings,
    ).options()
    with receiver:
        yield receiver, config


def _has(name: str, value: float | None = None) -> Any:
    def check(items: list[Received]) -> bool:
        for item in items:
            metric = decode_metrics(item.request).get(name)
            if metric and (value is None or any(v == value for _, v in metric.points)):
                return True
        return False

    return check


def _sink(config: OtlpOptions) -> OtlpSink:
    return OtlpSink(config, host_name=HOST_NAME, host_id=HOST_ID, service_version=SERVICE_VERSION)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_pushes_names_units_attributes_values_and_resource(
    protocol: Literal["grpc", "http/protobuf"],
) -> None:
    with receiver_and_config(protocol, interval=0.3) as (receiver, config):
        sink = _sink(config)
        sink.submit(golden_snapshot())
        sink.start()
        try:
            items = receiver.inbox.wait_for(_has("system.cpu.time"), timeout=30)
        finally:
            sink.shutdown(5.0)
    request = next(i for i in items if _has("system.cpu.time")([i]))
    assert (
        resource_attributes(request.request).items()
        >= {
            "host.name": HOST_NAME,
            "host.id": HOST_ID,
            "service.name": "hostpulse-exporter",
            "service.version": SERVICE_VERSION,
        }.items()
    )
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["x-tenant"] == "acme"
    metrics = decode_metrics(request.request)

    cpu_time = metrics["system.cpu.time"]
    assert (cpu_time.unit, cpu_time.data, cpu_time.monotonic) == ("s", "sum", True)
    assert cpu_time.temporality == CUMULATIVE
    assert ({"cpu.mode": "user", "cpu.logical_number": "0"}, 1234.5) in cpu_time.points
    assert len(cpu_time.points) == 4

    memory = metrics["system.memory.usage"]
    assert (memory.unit, memory.data, memory.monotonic) == ("By", "sum", False)
    assert sorted(memory.points, key=lambda p: p[1]) == [
        ({"system.memory.state": "free"}, 1e9),
        ({"system.memory.state": "used"}, 3e9),
    ]
    utilization = metrics["system.cpu.utilization"]
    assert (utilization.unit, utilization.data) == ("1", "gauge")
    assert metrics["system.process.count"].unit == "{process}"

    process_cpu = sorted(metrics["process.cpu.utilization"].points, key=lambda p: p[0]["rank"])
    assert process_cpu == [
        ({"rank": "1", "process.pid": "1001", "process.executable.name": "postgres"}, 0.5),
        (
            {"rank": "2", "process.pid": "1002", "process.executable.name": TRICKY_PROCESS_NAME},
            0.125,
        ),
    ]
    success = {a["collector"]: v for a, v in metrics["hostpulse.collector.success"].points}
    assert success == {"cpu": 1, "memory": 1, "processes": 1, "network": 1, "disk": 0}
    assert metrics["hostpulse.collector.duration"].unit == "s"


def _uptime_snapshot(value: float, extra: list[Metric] | None = None) -> Snapshot:
    metrics = [Metric("system.uptime", "s", Kind.GAUGE, "Uptime.", [Point(value)]), *(extra or [])]
    return Snapshot(value, HOST_NAME, HOST_ID, [CollectorResult("system", metrics, 0.01, True)])


def test_each_export_reads_the_newest_snapshot_and_new_metrics_appear() -> None:
    with receiver_and_config("http/protobuf", interval=0.3) as (receiver, config):
        sink = _sink(config)
        sink.start()  # before any snapshot: exports nothing of ours, and does not fail
        try:
            sink.submit(_uptime_snapshot(10.0))
            receiver.inbox.wait_for(_has("system.uptime", 10.0), timeout=30)
            late = Metric(
                "system.linux.thing", "{thing}", Kind.COUNTER, "Arrived later.", [Point(3)]
            )
            sink.submit(_uptime_snapshot(20.0, [late]))
            receiver.inbox.wait_for(_has("system.uptime", 20.0), timeout=30)
            receiver.inbox.wait_for(_has("system.linux.thing", 3), timeout=30)
        finally:
            sink.shutdown(5.0)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_shutdown_flushes_the_latest_snapshot(protocol: Literal["grpc", "http/protobuf"]) -> None:
    with receiver_and_config(protocol, interval=3600) as (receiver, config):
        sink = _sink(config)
        sink.start()
        sink.submit(_uptime_snapshot(42.0))
        sink.shutdown(5.0)
        receiver.inbox.wait_for(_has("system.uptime", 42.0), timeout=10)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_shutdown_keeps_its_deadline_when_the_endpoint_is_down(
    protocol: Literal["grpc", "http/protobuf"],
) -> None:
    config = OtlpConfig(
        enabled=True,
        protocol=protocol,
        endpoint=f"http://127.0.0.1:{free_port()}",
        interval=3600,
        timeout=120,
    ).options()
    sink = _sink(config)
    sink.start()
    sink.submit(_uptime_snapshot(1.0))
    started = time.monotonic()
    sink.shutdown(1.0)
    took = time.monotonic() - started
    # Generous slack for a loaded machine; without the deadline this would take the 120 s timeout.
    assert took < 30, f"shutdown(1.0) took {took:.1f} s"


def _process_snapshot(pid: int) -> Snapshot:
    who = {"rank": "1", "process.pid": str(pid), "process.executable.name": "worker"}
    rss = Metric("process.memory.usage", "By", Kind.UPDOWN, "RSS.", [Point(pid * 1000.0, who)])
    return Snapshot(
        float(pid), HOST_NAME, HOST_ID, [CollectorResult("processes", [rss], 0.01, True)]
    )


def test_processes_that_come_and_go_do_not_pile_up_in_the_sdk() -> None:
    # Each new top process is a new attribute set the SDK would keep forever (memory, then an
    # overflow point): past the limit the sink starts afresh and keeps exporting current values.
    with receiver_and_config("http/protobuf", interval=3600) as (receiver, config):
        sink = OtlpSink(config, host_name=HOST_NAME, host_id=HOST_ID, process_series_limit=3)
        sink.start()
        try:
            for pid in range(100, 108):
                sink.submit(_process_snapshot(pid))
            assert sink.generations >= 3, "the provider was never renewed"
            assert sink.flush(10.0)
            items = receiver.inbox.wait_for(_has("process.memory.usage", 107000.0), timeout=20)
        finally:
            sink.shutdown(5.0)
    latest = decode_metrics(items[-1].request)["process.memory.usage"].points
    assert latest == [({"rank": "1", "process.pid": "107", "process.executable.name": "worker"},
                       107000.0)]  # fmt: skip


def test_never_installs_the_global_meter_provider() -> None:
    with receiver_and_config("http/protobuf", interval=3600) as (_, config):
        sink = _sink(config)
        sink.start()
        try:
            assert otel_metrics.get_meter_provider() is not sink._provider
        finally:
            sink.shutdown(5.0)


def test_http_protocol_does_not_import_grpc() -> None:
    # grpcio costs ~15 MB of RSS: an agent pushing OTLP/HTTP must not load it.
    code = (
        "import sys\n"
        "from exporter.config import OtlpConfig\n"
        "from exporter.sinks.otlp import OtlpSink\n"
        "sink = OtlpSink(OtlpConfig(protocol='http/protobuf', endpoint='http://127.0.0.1:9',"
        " interval=3600).options(), host_name='h', host_id='i')\n"
        "sink.start(); sink.shutdown(0.5)\n"
        "print(sorted(m for m in sys.modules if m == 'grpc' or m.startswith('grpc.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://collector:4318", "http://collector:4318/v1/metrics"),
        ("http://collector:4318/", "http://collector:4318/v1/metrics"),
        ("https://otlp.example/custom/path", "https://otlp.example/custom/path"),
    ],
)
def test_http_metrics_url(endpoint: str, expected: str) -> None:
    assert http_metrics_url(endpoint) == expected


@pytest.mark.parametrize("endpoint", ["collector:4318", "ftp://collector:4318", "http://"])
def test_bad_endpoint_is_named(endpoint: str) -> None:
    # The config already refuses these; the sink says the same when built without it.
    config = replace(OtlpConfig(protocol="http/protobuf").options(), endpoint=endpoint)
    with pytest.raises(ValueError, match=r"otlp\.endpoint"):
        validate_endpoint(config)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_real_agent_pushes_host_metrics(
    protocol: Literal["grpc", "http/protobuf"], tmp_path: Path
) -> None:
    cli = Path(sys.executable).with_name("hostpulse-exporter")
    if not cli.exists():
        pytest.skip("hostpulse-exporter is not installed in this venv")
    with receiver_and_config(protocol) as (receiver, config):
        settings = {
            "interval": "1s",
            "log_level": "warning",
            "prometheus": {"enabled": False},
            "otlp": {
                "enabled": True,
                "protocol": protocol,
                "endpoint": config.endpoint,
                "interval": "1s",
                "headers": HEADERS,
            },
        }
        config_file = tmp_path / "agent.yaml"
        config_file.write_text(yaml.safe_dump(settings))
        with (tmp_path / "agent.log").open("wb") as log:
            agent = subprocess.Popen(
                [str(cli), "--config", str(config_file)], stdout=log, stderr=subprocess.STDOUT
            )
            try:
                items = receiver.inbox.wait_for(_has("process.cpu.utilization"), timeout=60)
            finally:
                agent.send_signal(signal.SIGTERM)
                assert agent.wait(timeout=30) == 0, (tmp_path / "agent.log").read_text()
    request = next(i for i in items if _has("process.cpu.utilization")([i]))
    assert request.headers["authorization"] == "Bearer s3cret"
    assert resource_attributes(request.request)["service.name"] == "hostpulse-exporter"
    metrics = decode_metrics(request.request)
    cpu_time = metrics["system.cpu.time"]
    assert (cpu_time.unit, cpu_time.monotonic, cpu_time.temporality) == ("s", True, CUMULATIVE)
    assert all(value >= 0 for _, value in cpu_time.points)
    memory = {a["system.memory.state"]: v for a, v in metrics["system.memory.usage"].points}
    assert 0 < memory["used"] < metrics["system.memory.limit"].points[0][1]
    ranks = sorted(int(a["rank"]) for a, _ in metrics["process.cpu.utilization"].points)
    assert ranks == list(range(1, len(ranks) + 1))
    assert all(0 <= v <= 1 for _, v in metrics["process.cpu.utilization"].points)
