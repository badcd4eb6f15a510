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
