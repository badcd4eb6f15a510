"""The shipped collector-config files, loaded, and the one change the tests make to the Prometheus
config: Debian's Prometheus 2.42 is built without Kubernetes service discovery (promtool rejects
`kubernetes_sd_configs`), so the pod job's discovery is swapped for file-SD targets carrying the
`__meta_kubernetes_*` labels Kubernetes SD would set. Its relabel_configs stay as shipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[2] / "collector-config"
PROMETHEUS_DIR = CONFIG_DIR / "prometheus"
PROMETHEUS_YML = PROMETHEUS_DIR / "prometheus.yml"
RULES_YML = PROMETHEUS_DIR / "hostpulse-rules.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_YML = CONFIG_DIR / "alertmanager" / "alertmanager.yml"
OTELCOL_YAML = CONFIG_DIR / "otelcol" / "otelcol.yaml"
REPO = Path(__file__).resolve().parents[2]
BACKEND_DEFAULT_RULES = REPO / "backend" / "alerts" / "defaults.yml"
AGENT_K8S_DIR = REPO / "k8s" / "base" / "agent"

STATIC_JOB = "hostpulse-exporter"
PODS_JOB = "hostpulse-exporter-pods"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def job(config: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [j for j in config["scrape_configs"] if j["job_name"] == name]
    assert len(found) == 1, f"one scrape job {name}"
    return found[0]


def alerts() -> list[dict[str, Any]]:
    return [
        rule for group in load(RULES_YML)["groups"] for rule in group["rules"] if "alert" in rule
    ]


def pod_target(address: str, node: str, port: str, *, scrape: str = "true") -> dict[str, Any]:
    """One file-SD target group as Kubernetes pod discovery describes an agent pod."""
    return {
        "targets": [address],
        "labels": {
            "__meta_kubernetes_namespace": "hostpulse-agent",
            "__meta_kubernetes_pod_name": f"hostpulse-agent-{node}",
            "__meta_kubernetes_pod_node_name": node,
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": "hostpulse-exporter",
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape": scrape,
            "__meta_kubernetes_pod_annotation_prometheus_io_port": port,
            "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
            "__meta_kubernetes_pod_container_port_name": "metrics",
        },
    }


def without_kubernetes_sd(
    directory: Path, pods: list[dict[str, Any]], config: dict[str, Any] | None = None
) -> Path:
    """Write `config` (default: the shipped one) into `directory` with the pod job's discovery
    replaced by a file of `pods` (see pod_target) and the rule file copied beside it."""
    config = config if config is not None else load(PROMETHEUS_YML)
    pods_job = job(config, PODS_JOB)
    assert "kubernetes_sd_configs" in pods_job, "the pod job discovers pods through Kubernetes"
    del pods_job["kubernetes_sd_configs"]
    pods_file = directory / "pods.json"
    pods_file.write_text(json.dumps(pods))
    pods_job["file_sd_configs"] = [{"files": [str(pods_file)], "refresh_interval": "1s"}]
    (directory / RULES_YML.name).write_text(RULES_YML.read_text())
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
