"""The `hostpulse-exporter` command as a user runs it: --version, --help, --once, start and stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from conventions.report_schema import load_report_schema
from exporter import __version__
from tests.conftest import free_port

SCHEMA = load_report_schema()
EXPORTER = [sys.executable, "-m", "exporter.cli"]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HOSTPULSE_")}


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EXPORTER, *args], capture_output=True, text=True, timeout=timeout, env=clean_env()
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"hostpulse-exporter {__version__}"


def test_help_explains_flags_with_examples() -> None:
    result = run("--help")
    assert result.returncode == 0
    for text in ("--config FILE", "--once", "--print-config", "--interval", "--listen",
                 "--backend-url", "--disable-collector", "examples:", "HOSTPULSE_"):  # fmt: skip
        assert text in result.stdout


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("hostpulse-exporter")
    if not script.exists():
        pytest.skip("the package is not installed as a distribution in this interpreter")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_once_prints_one_schema_valid_report_of_every_enabled_collector() -> None:
    result = run("--once", "--disable-collector", "network", "--host-name", "once-host")
    assert result.returncode == 0, result.stderr
    batch = json.loads(result.stdout)
    jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(batch)
    (report,) = batch["reports"]
    assert report["seq"] == 1
    assert report["host"]["name"] == "once-host"
    collectors = {c["name"]: c["success"] for c in report["collectors"]}
    assert "network" not in collectors
    assert {"cpu", "memory", "processes", "disk", "handles", "system", "agent"} <= set(collectors)
    assert all(collectors.values()), collectors
    names = {metric["name"] for metric in report["metrics"]}
    assert {"system.cpu.utilization", "system.memory.usage"} <= names
    assert 1 <= len(report["processes"]) <= 5


def test_runs_serves_metrics_logs_json_and_stops_on_sigint() -> None:
    port = free_port()
    agent = subprocess.Popen(
        [*EXPORTER, "--listen", f"127.0.0.1:{port}", "--interval", "200ms"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    try:
        deadline = time.monotonic() + 30
        body = b""
        while b"system_cpu" not in body:
            assert time.monotonic() < deadline, "no metrics within 30 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    body = r.read()
            except OSError:
                time.sleep(0.1)
        agent.send_signal(signal.SIGINT)
        _, stderr = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate()
    assert agent.returncode == 0, stderr.decode()
    lines = [json.loads(line) for line in stderr.decode().splitlines()]
    assert {"time", "level", "logger", "event"} <= set(lines[0])
    assert lines[0]["event"] == "agent started"
    assert lines[-1]["event"] == "agent stopped"


def test_an_output_that_cannot_start_exits_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("--listen", f"127.0.0.1:{port}", "--log-format", "text")
    assert result.returncode == 1
    assert "cannot start" in result.stderr
