"""collector-config/mixin/mixin.libsonnet evaluates (the `jsonnet` wheel: the C++ Jsonnet) to the
very dashboards and rules the repository ships, so mixin users get no stale copy."""

from __future__ import annotations

import json
from typing import Any

import yaml

from dashboards.grafana.generate import DASHBOARDS_DIR
from tests.collector_config.prometheus_files import CONFIG_DIR, RULES_YML

MIXIN_DIR = CONFIG_DIR / "mixin"


def evaluate(expression: str) -> Any:
    import _jsonnet

    snippet = f'local mixin = import "mixin.libsonnet"; {expression}'
    return json.loads(_jsonnet.evaluate_snippet("test", snippet, jpathdir=[str(MIXIN_DIR)]))


def test_the_mixins_dashboards_are_the_generated_files() -> None:
    dashboards = evaluate("mixin.grafanaDashboards")
    files = {p.name: json.loads(p.read_text()) for p in DASHBOARDS_DIR.glob("*.json")}
    assert sorted(dashboards) == sorted(files), "list every dashboard file in mixin.libsonnet"
    assert dashboards == files


def test_the_mixins_alerts_and_recording_rules_are_the_rules_file() -> None:
    groups = yaml.safe_load(RULES_YML.read_text())["groups"]
    alerts = evaluate("mixin.prometheusAlerts")["groups"]
    recording = evaluate("mixin.prometheusRules")["groups"]
    assert sorted(alerts + recording, key=lambda g: g["name"]) == sorted(
        groups, key=lambda g: g["name"]
    )
    assert all("alert" in rule for group in alerts for rule in group["rules"])
    assert all("record" in rule for group in recording for rule in group["rules"])
