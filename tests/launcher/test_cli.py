from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from launcher.cli import build_parser, main
from launcher.stack import child_environment, entry_point


def test_help_lists_the_up_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "up" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("hostpulse ")


def test_up_defaults() -> None:
    args = build_parser().parse_args(["up"])
    assert (args.backend_port, args.dashboard_port, args.exporter_port) == (8000, 8080, 9860)
    assert args.data_dir is None
    assert args.no_exporter is False


def test_a_bad_port_is_refused_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["up", "--backend-port", "70000"])
    assert exited.value.code == 2
    assert "--backend-port" in capsys.readouterr().err


def test_two_components_on_one_port_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["up", "--data-dir", str(tmp_path), "--backend-port", "9000", "--dashboard-port", "9000"]
    assert main(argv) == 2
    assert "must differ" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before touching anything


def test_children_get_the_stack_urls_and_never_the_admin_password() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOSTPULSE_ADMIN_PASSWORD": "secret-password",
        "HOSTPULSE_DATABASE_URL": "postgresql://elsewhere/db",
    }
    env = child_environment(environ, "postgresql://x/hostpulse", "unix:///r.sock", "http://d:1")
    assert env["PATH"] == "/usr/bin"
    assert "HOSTPULSE_ADMIN_PASSWORD" not in env
    assert "HOSTPULSE_DATABASE_URL" not in env  # it would win over DATABASE_URL in the backend
    assert env["DATABASE_URL"] == "postgresql://x/hostpulse"
    assert env["REDIS_URL"] == "unix:///r.sock"
    assert json.loads(env["HOSTPULSE_CORS_ORIGINS"]) == ["http://d:1"]


def test_children_run_from_the_same_installation() -> None:
    argv = entry_point("hostpulse-backend", "backend.cli")
    assert Path(argv[0]).parent == Path(sys.executable).parent


def test_an_unusable_data_dir_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["up", "--data-dir", str(blocker / "sub")]) == 2
    assert str(blocker / "sub") in capsys.readouterr().err
