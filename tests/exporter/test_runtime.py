"""The lean runtime: the CLI validates, then becomes `exporter.runtime` with the config."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pydantic import BaseModel

from exporter import options
from exporter.collectors.registry import COLLECTOR_NAMES
from exporter.config import load_config
from exporter.config_models import (
    CollectorConfig,
    CollectorsConfig,
    JsonPushConfig,
    OtlpConfig,
    PrometheusConfig,
    RuntimeConfig,
    TopProcessesConfig,
)
from exporter.runtime import main as runtime_main
from exporter.runtime import runtime_environment
from tests.conftest import free_port

TOKEN = "t0ken-never-in-argv"
# Options the validation derives from a setting (setting -> option): the web config file's
# content reaches the runtime already parsed, so the runtime needs no YAML parser.
DERIVED_OPTIONS: dict[type, dict[str, str]] = {
    options.PrometheusOptions: {"web_config_file": "web_config"}
}


@pytest.mark.parametrize(
    ("model", "plain"),
    [
        (CollectorConfig, options.CollectorOptions),
        (TopProcessesConfig, options.TopProcessesOptions),
        (PrometheusConfig, options.PrometheusOptions),
        (OtlpConfig, options.OtlpOptions),
        (JsonPushConfig, options.JsonPushOptions),
        (RuntimeConfig, options.AgentOptions),
    ],
)
def test_every_setting_reaches_the_runtime(model: type[BaseModel], plain: type) -> None:
    derived = DERIVED_OPTIONS.get(plain, {})
    assert set(model.model_fields) - derived.keys() == {
        field.name for field in dataclasses.fields(plain)
    } - set(derived.values())


def test_every_registered_collector_has_a_section_that_reaches_the_runtime() -> None:
    runtime = RuntimeConfig().options().collectors
    assert tuple(CollectorsConfig.model_fields) == tuple(runtime) == COLLECTOR_NAMES
    assert isinstance(runtime["processes"], options.TopProcessesOptions)


def test_handover_round_trip_keeps_secrets_and_reads_the_token_file_once(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    config = load_config(
        overrides={
            "interval": "500ms",
            "collectors": {"disk": {"enabled": False}, "processes": {"top_n": 7}},
            "otlp": {"enabled": True, "headers": {"Authorization": "Bearer h"}},
            "json_push": {"enabled": True, "token_file": str(token_file)},
        }
    )
    received = options.agent_options_from_json(config.handover_json())
    token_file.unlink()  # the runtime must not need it any more
    assert received == dataclasses.replace(
        config.options(), json_push=dataclasses.replace(config.options().json_push, token_file=None)
    )
    assert received.interval == 0.5
    processes = received.collectors["processes"]
    assert isinstance(processes, options.TopProcessesOptions)
    assert processes.top_n == 7
    assert received.collectors["disk"].enabled is False
    assert received.json_push.token is not None
    assert received.json_push.token.get_secret_value() == TOKEN
    assert received.otlp.headers["Authorization"].get_secret_value() == "Bearer h"
    assert TOKEN not in repr(received)


def test_a_broken_handover_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    fd = os.memfd_create("broken-config", 0)
    os.write(fd, b'{"interval": 2.0}')
    os.lseek(fd, 0, os.SEEK_SET)
    assert runtime_main(["--config-fd", str(fd)]) == 2
    assert runtime_main(["--something"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == (
        "hostpulse-exporter: handed-over config is not a complete agent config: missing 'host_name'"
    )
    assert "started by hostpulse-exporter only" in lines[1]


def test_runtime_environment_limits_malloc_arenas_unless_set() -> None:
    assert runtime_environment({})["MALLOC_ARENA_MAX"] == "2"
    assert runtime_environment({"MALLOC_ARENA_MAX": "8"})["MALLOC_ARENA_MAX"] == "8"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memfd and /proc are Linux")
def test_the_running_agent_is_lean_keeps_its_pid_and_hides_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTPULSE_")}
    command = [
        *(sys.executable, "-m", "exporter.cli", "--listen", f"127.0.0.1:{port}"),
        *("--backend-url", f"http://127.0.0.1:{free_port()}/ingest/metrics"),
        *("--token-file", str(token_file), "--log-format", "text", "--interval", "200ms"),
        *("--otlp-endpoint", f"http://127.0.0.1:{free_port()}", "--otlp-protocol", "http/protobuf"),
    ]
    agent = subprocess.Popen(command, stderr=subprocess.PIPE, env=env)
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
        proc = Path(f"/proc/{agent.pid}")  # the same pid: the CLI became the runtime
        assert b"exporter.runtime" in (proc / "cmdline").read_bytes()
        mapped = (proc / "maps").read_text()
        assert "pydantic_core" not in mapped, "the runtime loaded pydantic"
        assert "_yaml" not in mapped, "the runtime loaded PyYAML's C loader"
        assert "_psutil" not in mapped, "psutil loaded though procfs is there (~2.7 MB)"
        for name in ("cmdline", "environ"):
            assert TOKEN.encode() not in (proc / name).read_bytes(), f"token in /proc/pid/{name}"
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate()
    assert agent.returncode == 0, stderr.decode()
    assert "agent stopped" in stderr.decode()
