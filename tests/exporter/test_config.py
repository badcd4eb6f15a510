"""Config: precedence (default < file < env < flag), validation, one-line errors, masked secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.config import ConfigError, load_config


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def run_exporter(*args: str, env: dict[str, str] | None = None) -> Outcome:
    """`hostpulse-exporter ARGS` in a subprocess (the real entry point, exit code and streams)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOSTPULSE_")}
    result = subprocess.run(
        [sys.executable, "-m", "exporter.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def run_main(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Outcome]:
    """`main(ARGS)` in this process: the same code path as the CLI, without a Python start-up."""

    def run(*args: str, env: dict[str, str] | None = None) -> Outcome:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own exits
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return run


@pytest.fixture(autouse=True)
def _no_hostpulse_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("HOSTPULSE_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    config = load_config()
    assert config.interval == 2.0
    assert config.shutdown_deadline == 5.0
    assert config.collectors.processes.top_n == 5
    assert config.prometheus.enabled
    assert not config.json_push.enabled
    assert config.json_push.buffer_capacity * config.interval >= 600  # >= 10 min of reports


def test_file_then_env_then_flags_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text("interval: 3s\nlog_level: debug\ncollectors:\n  cpu: {interval: 1s}\n")
    assert load_config(path).interval == 3.0
    monkeypatch.setenv("HOSTPULSE_INTERVAL", "4s")
    monkeypatch.setenv("HOSTPULSE_COLLECTORS__PROCESSES__TOP_N", "7")
    config = load_config(path)
    assert (config.interval, config.log_level, config.collectors.processes.top_n) == (4, "debug", 7)
    assert config.collectors.cpu.interval == 1.0  # a nested file value survives a nested env value
    config = load_config(path, {"interval": "5s", "collectors": {"processes": {"top_n": 9}}})
    assert (config.interval, config.collectors.processes.top_n) == (5.0, 9)
    assert config.collectors.cpu.interval == 1.0


def test_json_config_file(tmp_path: Path) -> None:
    path = tmp_path / "exporter.json"
    path.write_text(json.dumps({"prometheus": {"listen": "127.0.0.1:9999"}, "interval": 0.5}))
    config = load_config(path)
    assert (config.prometheus.listen, config.interval) == ("127.0.0.1:9999", 0.5)


def test_flags_beat_env_and_file_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text("interval: 3s\nprometheus: {listen: '127.0.0.1:1111'}\n")
    result = run_exporter(
        "--config", str(path), "--interval", "7s", "--print-config",
        env={"HOSTPULSE_INTERVAL": "4s", "HOSTPULSE_PROMETHEUS__LISTEN": "127.0.0.1:2222"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["interval"] == "7s"
    assert printed["prometheus"]["listen"] == "127.0.0.1:2222"


def test_print_config_masks_secrets(run_main: Callable[..., Outcome], tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    result = run_main(
        "--backend-url", "http://127.0.0.1:8000/ingest/metrics", "--token-file", str(token_file),
        "--print-config",
        env={"HOSTPULSE_OTLP__HEADERS": '{"authorization": "Bearer otlp-s3cret"}'},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout
    printed = json.loads(result.stdout)
    assert printed["json_push"]["token"] == "**********"
    assert printed["otlp"]["headers"] == {"authorization": "**********"}


def test_token_file_is_read(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("abc\n")
    config = load_config(overrides={"json_push": {"enabled": True, "token_file": str(token_file)}})
    assert config.json_push.token is not None
    assert config.json_push.token.get_secret_value() == "abc"


BAD_FILES = [
    ("bogus: 1\n", "bogus: unknown setting"),
    ("collectors:\n  gpu: {enabled: true}\n", "collectors.gpu: unknown setting"),
    ("interval: fast\n", "interval: 'fast' is not a duration"),
    ("interval: -2s\n", "interval: must be positive"),
    ("interval: 0\n", "interval: must be positive"),
    ("collectors:\n  cpu: {interval: -1}\n", "collectors.cpu.interval: must be positive"),
    ("collectors:\n  processes: {top_n: many}\n", "collectors.processes.top_n:"),
    ("prometheus: {enabled: maybe}\n", "prometheus.enabled:"),
    ("prometheus: {listen: nowhere}\n", "prometheus.listen: 'nowhere' is not HOST:PORT"),
    ("json_push: {enabled: true}\n", "json_push: token: required"),
    ("json_push: {url: 'ftp://x'}\n", "json_push.url: 'ftp://x' is not an http"),
    ("interval: [1, 2\n", "not valid YAML"),
    ("- just\n- a list\n", "top level must be a mapping"),
]


@pytest.mark.parametrize(("content", "expected"), BAD_FILES)
def test_bad_config_file_exits_2_with_one_line(
    run_main: Callable[..., Outcome], tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text(content)
    result = run_main("--config", str(path), "--print-config")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--config", "/nonexistent/exporter.yaml"], {}, "cannot read"),
        (["--interval=-1s"], {}, "interval: must be positive"),
        (["--top-n", "0"], {}, "collectors.processes.top_n: Input should be greater"),
        (["--disable-collector", "gpu"], {}, "argument --disable-collector: invalid choice"),
        (["--no-such-flag"], {}, "unrecognized arguments: --no-such-flag"),
        ([], {"HOSTPULSE_INTERVAL": "soon"}, "interval: 'soon' is not a duration"),
        ([], {"HOSTPULSE_COLLECTORS": "{not json"}, "config: environment:"),
        (["--token-file", "/nonexistent/token"], {}, "token_file /nonexistent/token: cannot read"),
    ],
)
def test_bad_flags_and_env_exit_2_with_one_line(
    run_main: Callable[..., Outcome], args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run_main(*args, "--print-config", env=env)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]


def test_the_real_entry_point_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text("interval: -5s\n")
    result = run_exporter("--config", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "hostpulse-exporter: config: interval: must be positive (a duration such as '2s')"
    ]


def test_load_config_raises_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"json_push.backoff_max: must be positive"):
        load_config(overrides={"json_push": {"backoff_max": "0s"}})


def test_otlp_grpc_without_the_exporter_grpc_extra_exits_2_naming_it(
    run_main: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in the agent's image, which installs the `exporter` extra only (no grpcio).
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc", None)
    result = run_main("--otlp-endpoint", "http://127.0.0.1:4317", "--print-config")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "hostpulse-exporter: config: otlp: protocol: 'grpc' needs the exporter-grpc extra "
        "(pip install 'hostpulse[exporter-grpc]'), which this install does not have; "
        "or use --otlp-protocol http/protobuf (port 4318)"
    ]
    over_http = run_main(
        "--otlp-endpoint",
        "http://127.0.0.1:4318",
        "--otlp-protocol",
        "http/protobuf",
        "--print-config",
    )
    assert over_http.returncode == 0, over_http.stderr
    assert json.loads(over_http.stdout)["otlp"]["protocol"] == "http/protobuf"
