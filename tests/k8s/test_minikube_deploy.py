"""`scripts/minikube-deploy`: no minikube can run here (it needs a VM or a container engine with
privileges this machine lacks), so the tests run `--dry-run` and check the printed sequence against
the rendered minikube overlay: every workload is waited for, every image the overlay uses is built
with the tag it names, Secrets exist before the apply."""

from __future__ import annotations

import os
import subprocess

import yaml

from tests.k8s.rendering import K8S, REPO, Manifest

SCRIPT = REPO / "scripts" / "minikube-deploy"
WITHOUT_CLUSTER_TOOLS = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=WITHOUT_CLUSTER_TOOLS,
        timeout=60,
        check=False,
    )


def _commands(stdout: str) -> list[str]:
    return [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]


def test_dry_run_prints_the_whole_sequence_in_order(rendered: dict[str, list[Manifest]]) -> None:
    result = _run("--dry-run")
    assert result.returncode == 0, result.stderr
    commands = _commands(result.stdout)

    def index(prefix: str) -> int:
        matches = [i for i, command in enumerate(commands) if command.startswith(prefix)]
        assert len(matches) == 1, (prefix, commands)
        return matches[0]

    start = index("minikube start -p hostpulse --cni=calico")
    ingress = index("minikube -p hostpulse addons enable ingress")
    images = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["images"]
    builds = []
    for image in images:
        if not image["name"].startswith("hostpulse-"):
            continue
        component = image["name"].removeprefix("hostpulse-")
        builds.append(
            index(
                f"minikube -p hostpulse image build -t {image['newName']}:{image['newTag']} "
                f"-f docker/{component}.Dockerfile ."
            )
        )
    secrets = index("scripts/k8s-secrets k8s/overlays/minikube")
    apply = index("kubectl --context hostpulse apply -k k8s/overlays/minikube")
    waits = [i for i, c in enumerate(commands) if " rollout status " in c]
    assert start < ingress < min(builds)
    assert max(builds) < secrets < apply < min(waits)
    assert len(builds) == 3

    waited = set()
    for i in waits:
        words = commands[i].split()
        waited.add((words[words.index("-n") + 1], words[words.index("status") + 1]))
    workloads = {
        (m["metadata"]["namespace"], f"{m['kind'].lower()}/{m['metadata']['name']}")
        for m in rendered["minikube"]
        if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
    }
    assert waited == workloads
    jobs = {
        (m["metadata"]["namespace"], f"job/{m['metadata']['name']}")
        for m in rendered["minikube"]
        if m["kind"] == "Job"
    }
    completed = set()
    for command in commands[apply:]:
        words = command.split()
        if "wait" in words and "--for=condition=complete" in words:
            completed.add((words[words.index("-n") + 1], words[-2]))
    assert completed == jobs
    assert "port-forward svc/grafana 3000:3000" in result.stdout
    assert "http://hostpulse.localhost:8080" in result.stdout
    assert "port-forward svc/ingress-nginx-controller 8080:80" in result.stdout
    # The Ingress really serves that host.
    ingress_object = next(m for m in rendered["minikube"] if m["kind"] == "Ingress")
    assert ingress_object["spec"]["rules"][0]["host"] == "hostpulse.localhost"


def test_delete_removes_every_namespace_and_cluster_object(
    rendered: dict[str, list[Manifest]],
) -> None:
    result = _run("--dry-run", "--delete")
    assert result.returncode == 0, result.stderr
    commands = _commands(result.stdout)
    cluster_scoped = {
        (m["kind"], m["metadata"]["name"])
        for m in rendered["minikube"]
        if "namespace" not in m["metadata"]
    }
    deleted = set()
    for command in commands:
        words = command.split()
        kind = words[words.index("delete") + 1]
        names = [w for w in words[words.index("delete") + 2 :] if not w.startswith("--")]
        deleted |= {(kind, name) for name in names}
    expected = {(kind.lower(), name) for kind, name in cluster_scoped}
    assert deleted == expected


def test_a_real_run_without_minikube_stops_before_doing_anything() -> None:
    result = _run()
    assert result.returncode == 1
    assert "missing: minikube" in result.stderr
    assert "+ " not in result.stdout


def test_unknown_argument_is_refused() -> None:
    result = _run("--profle", "x")
    assert result.returncode == 2
    assert "unknown argument --profle" in result.stderr
