"""Rules as admins write them (YAML files and API bodies) and the shipped defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.alerts.rule_spec import (
    DEFAULTS_FILE,
    RuleFileError,
    parse_rules_document,
    read_rules_file,
)
from backend.alerts.rules import RuleKind


def test_shipped_defaults_cover_cpu_memory_handles_and_stale_with_agent_metric_names() -> None:
    rules = {spec.name: spec.to_rule() for spec in read_rules_file(DEFAULTS_FILE)}
    assert set(rules) == {"HighCpu", "HighMemory", "ManyOpenFileHandles", "AgentStale"}
    cpu = rules["HighCpu"]
    # Busy > 90 % is idle < 10 % on the per-mode total the agent sends.
    assert (cpu.metric, dict(cpu.matchers), cpu.op, cpu.threshold) == (
        "system_cpu_utilization_ratio",
        {"cpu_mode": "idle"},
        "<",
        0.1,
    )
    assert cpu.for_seconds == 10
    assert cpu.breaches(0.15, firing=True)  # hysteresis: stays firing below 20 % idle
    assert not cpu.breaches(0.15, firing=False)
    assert rules["HighMemory"].metric == "system_memory_utilization_ratio"
    assert rules["ManyOpenFileHandles"].metric == "system_linux_file_handle_usage"
    assert rules["AgentStale"].kind is RuleKind.ABSENT
    assert all(r.labels.get("severity") for r in rules.values())


def test_durations_are_prometheus_style_strings() -> None:
    [spec] = parse_rules_document(
        {"rules": [{"name": "Up", "metric": "up", "op": "<", "threshold": 1, "for": "1m30s"}]},
        "test",
    )
    assert spec.to_rule().for_seconds == 90
    assert spec.model_dump(mode="json", by_alias=True)["for"] == "90s"


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"name": "bad name", "metric": "m"}, "name"),
        ({"name": "X", "metric": "m", "op": "=>"}, "op"),
        ({"name": "X", "metric": "m", "for": "ten seconds"}, "for"),
        ({"name": "X"}, "metric"),
        ({"name": "X", "kind": "absent"}, "for"),
        ({"name": "X", "metric": "m", "labels": {"alertname": "Y"}}, "alertname"),
        ({"name": "X", "metric": "m", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(rule: dict[str, object], named: str) -> None:
    with pytest.raises(RuleFileError, match=named):
        parse_rules_document({"rules": [rule]}, "rules.yml")


def test_a_rules_file_with_a_duplicate_name_or_bad_yaml_is_refused(tmp_path: Path) -> None:
    twice = {"rules": [{"name": "A", "metric": "m"}, {"name": "A", "metric": "n"}]}
    with pytest.raises(RuleFileError, match="'A' is used twice"):
        parse_rules_document(twice, "rules.yml")
    broken = tmp_path / "rules.yml"
    broken.write_text("rules: [\n")
    with pytest.raises(RuleFileError, match=str(broken)):
        read_rules_file(broken)
