"""The copies in k8s/ that kustomize mounts as ConfigMaps (Grafana provisioning, the generated
dashboards, collector-config) are the same bytes as their sources (`scripts/sync-k8s-files
--check`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.k8s.rendering import K8S, REPO, Manifest, find

SCRIPT = REPO / "scripts" / "sync-k8s-files"


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "sync-k8s-files"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_copies_in_k8s_are_current() -> None:
    result = _check(REPO)
    assert result.returncode == 0, result.stderr


def _scratch_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    for part in ("scripts", "k8s", "collector-config"):
        shutil.copytree(REPO / part, repo / part, ignore=shutil.ignore_patterns("secrets"))
    shutil.copytree(
        REPO / "dashboards" / "grafana",
        repo / "dashboards" / "grafana",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return repo


def test_a_changed_source_is_named_and_syncing_fixes_it(tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    source = repo / "dashboards" / "grafana" / "dashboards" / "hostpulse-fleet.json"
    source.write_text(source.read_text().replace("HostPulse", "HostPulse!", 1))
    (repo / "dashboards" / "grafana" / "dashboards" / "hostpulse-new.json").write_text("{}")
    result = _check(repo)
    assert result.returncode == 1
    assert "stale: k8s/base/grafana/dashboards/hostpulse-fleet.json" in result.stderr
    assert "missing: k8s/base/grafana/dashboards/hostpulse-new.json" in result.stderr
    synced = subprocess.run(
        [sys.executable, str(repo / "scripts" / "sync-k8s-files")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert synced.returncode == 0, synced.stderr
    assert _check(repo).returncode == 0


def test_every_dashboard_is_mounted_where_the_provider_reads(
    rendered: dict[str, list[Manifest]],
) -> None:
    import yaml

    provider = yaml.safe_load(
        (K8S / "base" / "grafana" / "provisioning" / "dashboards" / "hostpulse.yaml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    dashboards = next(
        m
        for m in rendered["minikube"]
        if m["kind"] == "ConfigMap" and m["metadata"]["name"].startswith("grafana-dashboards-")
    )
    sources = {p.name for p in (REPO / "dashboards" / "grafana" / "dashboards").glob("*.json")}
    assert set(dashboards["data"]) == sources
    grafana = find(rendered["minikube"], "Deployment", "grafana")["spec"]["template"]["spec"]
    volume = next(
        v
        for v in grafana["volumes"]
        if v.get("configMap", {}).get("name", "") == (dashboards["metadata"]["name"])
    )
    mounts = {m["name"]: m["mountPath"] for m in grafana["containers"][0]["volumeMounts"]}
    assert mounts[volume["name"]] == path


def test_in_cluster_prometheus_scrapes_the_agents_as_collector_config_does() -> None:
    """k8s' prometheus.yml is its own file (rule path, no remote_write, no static targets), but
    its pod-discovery job is collector-config's, so host_name is the node's name in both."""
    import yaml

    def job(path: Path) -> Manifest:
        config = yaml.safe_load(path.read_text())
        jobs = [j for j in config["scrape_configs"] if j["job_name"] == "hostpulse-exporter-pods"]
        assert len(jobs) == 1, path
        found: Manifest = jobs[0]
        return found

    ours = job(K8S / "components" / "monitoring" / "prometheus" / "prometheus.yml")
    assert ours == job(REPO / "collector-config" / "prometheus" / "prometheus.yml")


def test_in_cluster_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """Debian's promtool is built without Kubernetes discovery: the pod job's discovery is
    swapped for a static target (its relabelling is tested in tests/collector_config, and the
    job is the same as there); everything else is checked as written."""
    import yaml

    from tests.conftest import require_program

    promtool = require_program("promtool")
    directory = K8S / "components" / "monitoring" / "prometheus"
    config = yaml.safe_load((directory / "prometheus.yml").read_text())
    rules = tmp_path / "hostpulse-rules.yml"
    shutil.copy(directory / "hostpulse-rules.yml", rules)
    assert config["rule_files"] == ["/etc/prometheus/rules/hostpulse-rules.yml"]
    config["rule_files"] = [str(rules)]  # the pod's path (/etc/prometheus/rules) is here
    for job in config["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs")[0]["namespaces"]["names"] == ["hostpulse-agent"]
        job["static_configs"] = [{"targets": ["10.1.2.3:9860"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_grafana_has_every_variable_its_provisioning_reads(
    rendered: dict[str, list[Manifest]],
) -> None:
    """Grafana expands `$VAR`, `${VAR}` and `$__env{VAR}` in provisioning files from its
    environment; an unset one becomes an empty URL or password."""
    import re

    from tests.k8s import pod_runner

    used: set[str] = set()
    for path in (K8S / "base" / "grafana" / "provisioning").rglob("*.yaml"):
        text = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        used |= set(re.findall(r"\$__env\{(\w+)\}", text))
        used |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)\}?", text))
    assert used, "the datasources read their addresses from the environment"
    for overlay, manifests in rendered.items():
        env = pod_runner.plan_pod(manifests, "Deployment", "grafana").container("grafana").env
        missing = used - set(env)
        assert not missing, (overlay, missing)
        assert all(env[name] for name in used), overlay
