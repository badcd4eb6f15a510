"""A real Prometheus scrapes the real agent (and the sink alone); values read back via its API."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import PrometheusConfig
from exporter.sinks.prometheus import PrometheusSink
from tests.conftest import free_port, require_program
from tests.exporter.golden.snapshot import HOST_NAME, TRICKY_PROCESS_NAME, golden_snapshot
from tests.exporter.test_prometheus_sink import promtool_problems

pytestmark = [pytest.mark.external, pytest.mark.slow]

DEADLINE = 60.0  # seconds; generous for a loaded 2-core machine
DEFAULT_COLLECTORS = {"cpu", "memory", "processes", "disk", "network", "handles", "system"}


def _http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def _poll(what: str, probe: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """probe() until it returns something truthy without raising; fail naming `what` at deadline."""
    end = time.monotonic() + deadline
    last: object = None
    while time.monotonic() < end:
        try:
            result = probe()
            if result:
                return result
            last = result
        except (OSError, ValueError, KeyError, AssertionError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": expr})
        body = json.loads(_http_get(f"{self.url}/api/v1/query?{query}"))
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def values(self, expr: str) -> list[tuple[dict[str, str], float]]:
        return [(r["metric"], float(r["value"][1])) for r in self.query(expr)]


@contextmanager
def running_prometheus(tmp_path: Path, target: str) -> Iterator[Prometheus]:
    binary = require_program("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "hostpulse", "static_configs": [{"targets": [target]}]}],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        prometheus = Prometheus(f"http://127.0.0.1:{port}")
        _poll("Prometheus ready", lambda: _http_get(f"{prometheus.url}/-/ready"))
        yield prometheus
    finally:
        _stop(process)
        log.close()


def _up(prometheus: Prometheus) -> bool:
    return [value for _, value in prometheus.values('up{job="hostpulse"}')] == [1.0]


@contextmanager
def running_agent(tmp_path: Path) -> Iterator[str]:
    """The real `hostpulse-exporter` with a 1 s interval; yields its host:port."""
    cli = Path(sys.executable).with_name("hostpulse-exporter")
    if not cli.exists():
        pytest.skip("hostpulse-exporter is not installed in this venv")
    port = free_port()
    config_file = tmp_path / "agent.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "interval": "1s",
                "log_level": "warning",
                "prometheus": {"listen": f"127.0.0.1:{port}"},
            }
        )
    )
    log = (tmp_path / "agent.log").open("wb")
    process = subprocess.Popen(
        [str(cli), "--config", str(config_file)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        metrics_url = f"http://127.0.0.1:{port}/metrics"

        def has_processes() -> bool:
            assert process.poll() is None, (tmp_path / "agent.log").read_text()
            return b"process_cpu_utilization_ratio{" in _http_get(metrics_url)

        _poll("the agent's first full snapshot", has_processes)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)
        log.close()


def test_prometheus_scrapes_the_real_agent(tmp_path: Path) -> None:
    with running_agent(tmp_path) as target, running_prometheus(tmp_path, target) as prometheus:
        _poll("up == 1", lambda: _up(prometheus))

        def every_collector_reported() -> list[tuple[dict[str, str], float]]:
            success = prometheus.values("hostpulse_collector_success")
            names = {labels["collector"] for labels, _ in success}
            return success if names >= DEFAULT_COLLECTORS else []

        success = _poll("every collector's health", every_collector_reported)
        assert {labels["collector"]: value for labels, value in success} == {
            labels["collector"]: 1.0 for labels, _ in success
        }

        utilization = _poll(
            "cpu utilization", lambda: prometheus.values("system_cpu_utilization_ratio")
        )
        assert all(0.0 <= value <= 1.0 for _, value in utilization), utilization

        used = _poll(
            "memory used",
            lambda: prometheus.values('system_memory_usage_bytes{system_memory_state="used"}'),
        )
        limit = prometheus.values("system_memory_limit_bytes")
        assert len(used) == 1
        assert len(limit) == 1
        assert 0 < used[0][1] < limit[0][1]

        processes = _poll(
            "process metrics", lambda: prometheus.values("process_cpu_utilization_ratio")
        )
        ranks = sorted(int(labels["rank"]) for labels, _ in processes)
        assert ranks == list(range(1, len(ranks) + 1))
        assert 1 <= len(ranks) <= 5
        assert all(labels["process_pid"].isdigit() for labels, _ in processes)
        assert all(labels["process_executable_name"] for labels, _ in processes)
        assert all(0.0 <= value <= 1.0 for _, value in processes)

        info = prometheus.values("target_info")
        assert info[0][0]["service_name"] == "hostpulse-exporter"

        assert promtool_problems(_http_get(f"http://{target}/metrics")) == []


def test_prometheus_ingests_the_sink_with_escaping_intact(tmp_path: Path) -> None:
    port = free_port()
    sink = PrometheusSink(PrometheusConfig(listen=f"127.0.0.1:{port}").options())
    sink.submit(golden_snapshot())
    sink.start()
    try:
        with running_prometheus(tmp_path, f"127.0.0.1:{port}") as prometheus:
            _poll("up == 1", lambda: _up(prometheus))
            failed = _poll(
                "collector success",
                lambda: prometheus.values('hostpulse_collector_success{collector="disk"}'),
            )
            assert failed[0][1] == 0.0
            second = _poll(
                "process rank 2",
                lambda: prometheus.values('process_cpu_utilization_ratio{rank="2"}'),
            )
            assert second[0][0]["process_executable_name"] == TRICKY_PROCESS_NAME
            assert second[0][1] == 0.125
            assert prometheus.values("target_info")[0][0]["host_name"] == HOST_NAME
            cpu = prometheus.values('system_cpu_time_seconds_total{cpu_mode="user"}')
            assert sorted(value for _, value in cpu) == [1200.0, 1234.5]
    finally:
        sink.shutdown(5.0)
