"""Every overlay renders with `kubectl kustomize` and passes `kubernetes-validate --strict` for
Kubernetes 1.29, 1.31 and the newest version it bundles. No API server can run here, so the
server-side checks (admission, Pod Security enforcement) are not exercised."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.k8s.rendering import K8S, OVERLAYS, REPO, Manifest, find

KUBERNETES_VERSIONS = ("1.29.0", "1.31.0", "newest")
DEPRECATED_FIELDS = ("commonLabels", "patchesStrategicMerge", "patchesJson6902", "vars", "bases")


def _newest_bundled_version() -> str:
    from kubernetes_validate import utils

    versions: list[str] = utils.all_versions()
    return max(versions, key=lambda v: tuple(int(part) for part in v.split(".")))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_is_valid_for_kubernetes(
    rendered_text: dict[str, str], overlay: str, version: str, tmp_path: Path
) -> None:
    if version == "newest":
        version = _newest_bundled_version()
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(rendered_text[overlay])
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--quiet",
            "-k",
            version,
            str(manifest),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_validation_rejects_an_unknown_field(rendered_text: dict[str, str], tmp_path: Path) -> None:
    # The strict validation above is only worth something if it fails on a typo.
    broken = rendered_text["minikube"].replace("readinessProbe:", "readinesProbe:", 1)
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(broken)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", str(manifest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "readinesProbe" in result.stdout + result.stderr


def test_no_deprecated_kustomize_fields() -> None:
    for kustomization in K8S.rglob("kustomization.yaml"):
        fields = set(yaml.safe_load(kustomization.read_text()))
        assert not fields & set(DEPRECATED_FIELDS), (
            f"{kustomization}: {fields & set(DEPRECATED_FIELDS)}"
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_carries_the_recommended_labels(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    version = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["labels"][0]
    for manifest in rendered[overlay]:
        labels = manifest["metadata"].get("labels") or {}
        assert labels.get("app.kubernetes.io/part-of") == "hostpulse", manifest["metadata"]
        if manifest["kind"] != "Secret":  # the overlay's own, not a release's
            release = version["pairs"]["app.kubernetes.io/version"]
            assert labels.get("app.kubernetes.io/version") == release
        template = (manifest.get("spec") or {}).get("template")
        if template:
            pod_labels = template["metadata"]["labels"]
            for key in ("name", "component", "part-of", "version"):
                assert f"app.kubernetes.io/{key}" in pod_labels, (manifest["metadata"]["name"], key)


def test_release_version_matches_pyproject() -> None:
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    assert base["labels"][0]["pairs"]["app.kubernetes.io/version"] == version
    hostpulse_images = [i for i in base["images"] if i["name"].startswith("hostpulse-")]
    assert len(hostpulse_images) == 3
    assert {i["newTag"] for i in hostpulse_images} == {version}


def test_a_config_change_renames_the_configmap_so_pods_roll(k8s_tree: Path) -> None:
    from tests.k8s.rendering import documents, render

    before = find(documents(render(k8s_tree, "minikube")), "Deployment", "backend")
    settings = k8s_tree / "overlays" / "minikube" / "kustomization.yaml"
    original = settings.read_text()
    try:
        settings.write_text(
            original.replace(
                "      - HOSTPULSE_BACKEND_URL=http://hostpulse.localhost:8080",
                "      - HOSTPULSE_BACKEND_URL=http://hostpulse.localhost:8080\n"
                "  - name: hostpulse-backend-settings\n    namespace: hostpulse\n"
                "    behavior: merge\n    literals:\n      - HOSTPULSE_LOG_LEVEL=debug",
            )
        )
        after = find(documents(render(k8s_tree, "minikube")), "Deployment", "backend")
    finally:
        settings.write_text(original)

    def settings_name(deployment: Manifest) -> str:
        name: str = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0][
            "configMapRef"
        ]["name"]
        return name

    assert settings_name(before).startswith("hostpulse-backend-settings-")
    assert settings_name(before) != settings_name(after)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_hold_the_generated_values_and_none_is_in_git(
    rendered: dict[str, list[Manifest]], k8s_tree: Path, overlay: str
) -> None:
    secrets_dir = k8s_tree / "overlays" / overlay / "secrets"
    secrets = [m for m in rendered[overlay] if m["kind"] == "Secret"]
    assert {s["metadata"]["name"].rsplit("-", 1)[0] for s in secrets} == {
        "hostpulse-postgres",
        "hostpulse-admin",
        "hostpulse-agent-token",
        "hostpulse-grafana-admin",
        "hostpulse-grafana-db",
        "hostpulse-postgres-tls",
    }
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "k8s"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [path for path in tracked if "/secrets/" in path]
    for secret in secrets:
        if secret.get("type") == "kubernetes.io/tls":
            continue  # a certificate and its key: checked by test_postgres_tls_secret_is_usable
        for value in secret["data"].values():
            plain = base64.b64decode(value).decode()
            assert len(plain) >= 40, "a random value of 256 bits"
            assert "\n" not in plain
            assert plain in {p.read_text() for p in secrets_dir.iterdir()}
    for path in tracked:
        text = (REPO / path).read_text()
        for generated in secrets_dir.iterdir():
            assert generated.read_text() not in text


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgres_tls_secret_is_a_certificate_and_its_key(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    secret = next(
        m
        for m in rendered[overlay]
        if m["kind"] == "Secret" and m["metadata"]["name"].startswith("hostpulse-postgres-tls-")
    )
    assert secret["type"] == "kubernetes.io/tls"
    certificate = base64.b64decode(secret["data"]["tls.crt"]).decode()
    key = base64.b64decode(secret["data"]["tls.key"]).decode()
    assert certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY-----" in key
    # The StatefulSet serves exactly these files.
    postgres = find(rendered[overlay], "StatefulSet", "postgres")["spec"]["template"]["spec"]
    args = postgres["containers"][0]["args"]
    assert "ssl=on" in args
    assert "ssl_key_file=/var/run/secrets/hostpulse/postgres-tls/tls.key" in args


# `kubectl apply` (client-side) keeps a copy of each object in an annotation of at most 256 KiB.
APPLY_ANNOTATION_LIMIT = 262144


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_fits_a_client_side_apply(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    import json

    for manifest in rendered[overlay]:
        size = len(json.dumps(manifest, separators=(",", ":")))
        assert size < APPLY_ANNOTATION_LIMIT * 0.9, (manifest["metadata"]["name"], size)
