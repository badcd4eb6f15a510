"""Renders every HostPulse dashboard to JSON: the committed files under `dashboards/` are this
module's output (tests/dashboards/grafana/test_generate.py fails when they differ)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from dashboards.grafana import postgres_dashboards, prometheus_dashboards
from dashboards.grafana.panels import Json

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
PROVISIONING_DIR = Path(__file__).resolve().parent / "provisioning"

# File name (without .json) → builder. The uid inside each is the file's stem.
BUILDERS: dict[str, Callable[[], Json]] = {
    "hostpulse-host": prometheus_dashboards.host_detail,
    "hostpulse-fleet": prometheus_dashboards.fleet_overview,
    "hostpulse-history": postgres_dashboards.history,
    "hostpulse-alerts": postgres_dashboards.alerts,
    "hostpulse-self": prometheus_dashboards.self_monitoring,
}


def render(model: Json) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name → its JSON text, for every dashboard."""
    return {f"{name}.json": render(build()) for name, build in BUILDERS.items()}


def stale_files(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Names of files that are missing, differ from the generator's output, or are left over."""
    wanted = rendered()
    present = {path.name for path in directory.glob("*.json")}
    stale = [
        name
        for name, text in wanted.items()
        if name not in present or (directory / name).read_text(encoding="utf-8") != text
    ]
    return sorted(stale + sorted(present - set(wanted)))


def write(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Writes every dashboard into `directory` (removing leftovers); returns the names changed."""
    changed = stale_files(directory) if directory.is_dir() else sorted(rendered())
    directory.mkdir(parents=True, exist_ok=True)
    wanted = rendered()
    for path in directory.glob("*.json"):
        if path.name not in wanted:
            path.unlink()
    for name, text in wanted.items():
        (directory / name).write_text(text, encoding="utf-8")
    return changed
