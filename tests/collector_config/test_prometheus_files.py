"""The shipped Prometheus config and rules pass the ecosystem's own linter."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import require_program

CONFIG_DIR = Path(__file__).resolve().parents[2] / "collector-config"


@pytest.mark.parametrize(
    ("command", "path"),
    [
        ("config", CONFIG_DIR / "prometheus" / "prometheus.yml"),
        ("rules", CONFIG_DIR / "prometheus" / "hostpulse-rules.yml"),
    ],
)
def test_promtool_accepts(command: str, path: Path) -> None:
    promtool = require_program("promtool")
    result = subprocess.run(
        [promtool, "check", command, str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_otel_collector_config_sends_metrics_to_the_backend_with_a_token() -> None:
    # No otelcol binary is packaged for this machine, so the structure is checked instead.
    config = yaml.safe_load((CONFIG_DIR / "otelcol" / "otelcol.yaml").read_text())
    pipeline = config["service"]["pipelines"]["metrics"]
    assert pipeline["receivers"] == ["otlp"]
    exporter = config["exporters"][pipeline["exporters"][0]]
    assert exporter["headers"]["Authorization"].startswith("Bearer ${env:")
    assert set(pipeline["processors"]) <= set(config["processors"])
