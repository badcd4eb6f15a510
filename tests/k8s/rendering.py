"""Render the kustomize overlays as an operator does: a scratch copy of `k8s/` whose overlays get
their Secret values from `scripts/k8s-secrets` (random, as in a real deployment), then
`kubectl kustomize`. No Kubernetes API server can run here: rendering, schema validation and the
checks of tests/k8s/policy.py are as far as these tests go without one (tests/k8s/pod_runner.py
then runs the rendered containers with podman)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import require_program

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = ("minikube", "production")

Manifest = dict[str, Any]


def kubectl() -> str:
    """The kubectl that scripts/install-kubectl put next to the venv's python, else one on PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.exists():
        return str(beside_python)
    return require_program("kubectl")


def prepare_tree(destination: Path) -> Path:
    """A copy of `k8s/` (without any real secret) whose overlays have fresh random Secret files."""
    tree = destination / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("secrets"))
    for overlay in OVERLAYS:
        subprocess.run(
            [str(REPO / "scripts" / "k8s-secrets"), str(tree / "overlays" / overlay)],
            check=True,
            capture_output=True,
        )
    return tree


def render(tree: Path, overlay: str) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(tree / "overlays" / overlay)],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {overlay} failed:\n{result.stderr}")
    return result.stdout


def documents(rendered: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    for manifest in manifests:
        if manifest["kind"] == kind and manifest["metadata"]["name"] == name:
            return manifest
    raise AssertionError(f"no {kind} {name} in the rendered overlay")
