"""The committed dashboard JSON is exactly what the generator produces (edit the Python, then run
`hostpulse-grafana generate`), and the command says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.grafana import generate
from dashboards.grafana.cli import main


def test_committed_dashboards_are_the_generators_output() -> None:
    assert generate.stale_files() == [], "run `hostpulse-grafana generate` and commit the JSON"


def test_generate_writes_every_dashboard_and_check_notices_an_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--output-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(generate.rendered())
    assert main(["generate", "--check", "--output-dir", str(tmp_path)]) == 0
    edited = tmp_path / "hostpulse-host.json"
    edited.write_text(edited.read_text().replace("CPU busy", "CPU"))
    (tmp_path / "leftover.json").write_text("{}")
    capsys.readouterr()
    assert main(["generate", "--check", "--output-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "hostpulse-host.json" in err
    assert "leftover.json" in err
    assert main(["generate", "--output-dir", str(tmp_path)]) == 0
    assert not (tmp_path / "leftover.json").exists()
    assert generate.stale_files(tmp_path) == []


def test_help_lists_generate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "generate" in capsys.readouterr().out
