"""The shipped Prometheus config and rules pass the ecosystem's own tools (`promtool check config`,
`check rules`, `test rules`) and say what operators rely on: host_name on every series, the agent
token from a file, every alert labelled, described, unit-tested and matching the backend's rules."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.collector_config.prometheus_files import (
    AGENT_K8S_DIR,
    BACKEND_DEFAULT_RULES,
    PODS_JOB,
    PROMETHEUS_DIR,
    PROMETHEUS_YML,
    RULE_TESTS,
    RULES_YML,
    STATIC_JOB,
    alerts,
    job,
    load,
    pod_target,
    without_kubernetes_sd,
)
from tests.conftest import require_program


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_program("promtool"), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=120,
    )


def test_promtool_check_config_accepts_the_config(tmp_path: Path) -> None:
    # Kubernetes SD swapped for file SD (prometheus_files.py): the rest is checked as shipped.
    config = without_kubernetes_sd(tmp_path, [pod_target("10.1.2.3:9860", "node-a", "9860")])
    result = promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_promtool_check_rules_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES_YML))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    assert RULE_TESTS, "collector-config/prometheus/tests/*.yml exist"
    result = promtool("test", "rules", *(str(p) for p in RULE_TESTS), cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_promtool_unit_tests_catch_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests are not vacuous: firing one evaluation early makes promtool fail."""
    (tmp_path / "tests").mkdir()
    (tmp_path / RULES_YML.name).write_text(RULES_YML.read_text())
    alerts_test = (PROMETHEUS_DIR / "tests" / "alerts.yml").read_text()
    early = alerts_test.replace("eval_time: 1m10s", "eval_time: 1m", 1)
    assert early != alerts_test
    (tmp_path / "tests" / "alerts.yml").write_text(early)
    result = promtool("test", "rules", "tests/alerts.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "HostPulseHighCpu" in result.stdout + result.stderr


def test_every_alert_has_severity_summary_and_description() -> None:
    for alert in alerts():
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"].strip(), alert["alert"]
        assert alert["annotations"]["description"].strip(), alert["alert"]
        assert "host_name" in alert["annotations"]["summary"], "the summary names the host"


def test_every_alert_fires_resolves_and_stays_silent_in_the_unit_tests() -> None:
    for alert in alerts():
        name = alert["alert"]
        checks = [
            check
            for path in RULE_TESTS
            for case in load(path)["tests"]
            for check in case.get("alert_rule_test", [])
            if check["alertname"] == name
        ]
        firing = [c for c in checks if c.get("exp_alerts")]
        silent = [c for c in checks if not c.get("exp_alerts")]
        assert firing, f"{name}: a test where it fires"
        fired_at = min(_seconds(c["eval_time"]) for c in firing)
        assert any(_seconds(c["eval_time"]) < fired_at for c in silent), f"{name}: not before `for`"
        assert any(_seconds(c["eval_time"]) > fired_at for c in silent), f"{name}: resolves"


def test_alerts_match_the_backends_default_rules() -> None:
    """Same name (HostPulse + the name), thresholds and `for` as backend/alerts/defaults.yml."""
    ours = {alert["alert"]: alert for alert in alerts()}
    for rule in load(BACKEND_DEFAULT_RULES)["rules"]:
        alert = ours.get(f"HostPulse{rule['name']}")
        assert alert is not None, f"no alert for the backend's {rule['name']}"
        assert _seconds(alert["for"]) == _seconds(rule["for"]), rule["name"]
        assert alert["labels"]["severity"] == rule["labels"]["severity"], rule["name"]
        if rule.get("kind") != "absent":
            assert f"{rule['op']} {rule['threshold']}" in alert["expr"], rule["name"]
            assert rule["metric"] in alert["expr"], rule["name"]
            # Hysteresis: a firing alert is kept alive until the resolve threshold is crossed.
            assert f"{rule['op']} {rule['resolve_threshold']}" in alert["expr"], rule["name"]
            assert f'ALERTS{{alertname="{alert["alert"]}", alertstate="firing"}}' in alert["expr"]
    assert "HostPulseCollectorFailing" in ours


def test_every_series_gets_host_name_and_remote_write_reads_the_token_from_a_file() -> None:
    config = load(PROMETHEUS_YML)
    assert config["rule_files"] == [RULES_YML.name]
    static = job(config, STATIC_JOB)
    assert any(r.get("target_label") == "host_name" for r in static["relabel_configs"])
    pods = job(config, PODS_JOB)
    node = [r for r in pods["relabel_configs"] if r.get("target_label") == "host_name"]
    assert node == [
        {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "host_name"}
    ]
    [remote] = config["remote_write"]
    assert remote["url"].endswith("/api/v1/write")
    assert set(remote["authorization"]) == {"type", "credentials_file"}, "never a literal token"
    assert "credentials" not in str(config).replace("credentials_file", "")


def test_pod_discovery_selects_the_daemonsets_pods() -> None:
    """The labels/annotations the pod job keys on are the ones k8s/base/agent gives its pods."""
    daemonset = load(AGENT_K8S_DIR / "daemonset.yaml")
    kustomization = load(AGENT_K8S_DIR / "kustomization.yaml")
    pod_labels = kustomization["labels"][0]["pairs"]
    annotations = daemonset["spec"]["template"]["metadata"]["annotations"]
    [port] = daemonset["spec"]["template"]["spec"]["containers"][0]["ports"]
    pods = job(load(PROMETHEUS_YML), PODS_JOB)
    [sd] = pods["kubernetes_sd_configs"]
    assert sd["namespaces"]["names"] == [kustomization["namespace"]]
    keep = {r["source_labels"][0]: r["regex"] for r in pods["relabel_configs"] if "action" in r}
    pod = "__meta_kubernetes_pod_"
    assert keep[f"{pod}label_app_kubernetes_io_name"] == pod_labels["app.kubernetes.io/name"]
    assert keep[f"{pod}annotation_prometheus_io_scrape"] == annotations["prometheus.io/scrape"]
    assert keep[f"{pod}container_port_name"] == port["name"]


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(duration))
    assert parts, f"a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_rule_tests_load_the_shipped_rules(path: Path) -> None:
    assert load(path)["rule_files"] == [f"../{RULES_YML.name}"]
