"""What each built image promises an operator, read from the image itself: its numeric non-root
user, exec-form entrypoint and health check, exposed port, OCI labels, Python settings for a
read-only root, and only its own component's packages (the agent has no FastAPI, asyncpg or
Redis client)."""

from __future__ import annotations

import json
import subprocess
import tomllib
import uuid
from pathlib import Path

import pytest

from tests.images.fixtures import IMAGE_TEST_TIMEOUT
from tests.images.podman import COMPONENTS, REPO, podman, project_version

pytestmark = [pytest.mark.images, pytest.mark.timeout(IMAGE_TEST_TIMEOUT)]

PORTS = {"exporter": "9860/tcp", "backend": "8000/tcp", "dashboard": "8080/tcp"}
# Distributions (lower-case) that must be, and must not be, in each image's virtualenv.
PRESENT = {
    "exporter": {"prometheus-client", "opentelemetry-sdk", "psutil"},
    "backend": {"fastapi", "asyncpg", "redis", "uvicorn", "pcodec"},
    "dashboard": {"fastapi", "uvicorn"},
}
ABSENT = {
    "exporter": {"fastapi", "asyncpg", "redis", "uvicorn", "starlette", "grpcio", "numpy"},
    "backend": {"opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "grpcio"},
    "dashboard": {"asyncpg", "redis", "opentelemetry-sdk", "numpy", "pcodec"},
}
# The hostpulse distribution's top-level packages each image keeps.
OWN_PACKAGES = {
    "exporter": {"conventions", "exporter"},
    "backend": {"conventions", "backend"},
    "dashboard": {"dashboards"},
}
ALL_PACKAGES = {"conventions", "exporter", "backend", "dashboards", "launcher"}
# Build tooling has no place in a runtime image (pip would also be a way to change it).
NEVER = {"pip", "setuptools", "wheel"}

INVENTORY = """
import importlib.metadata as m, importlib.util as u, json
print(json.dumps({
    "distributions": sorted(
        {d.metadata["Name"].lower().replace("_", "-") for d in m.distributions()}
    ),
    "packages": sorted(p for p in %r if u.find_spec(p) is not None),
}))
"""


def inspect(podman_env: dict[str, str], image: str) -> dict[str, object]:
    config: dict[str, object] = json.loads(
        podman(podman_env, "image", "inspect", "--format", "{{json .Config}}", image)
    )
    health = podman(podman_env, "image", "inspect", "--format", "{{json .HealthCheck}}", image)
    config["HealthCheck"] = json.loads(health)
    return config


@pytest.mark.parametrize("component", COMPONENTS)
def test_image_metadata(
    podman_env: dict[str, str], hostpulse_images: dict[str, str], component: str
) -> None:
    config = inspect(podman_env, hostpulse_images[component])
    assert config["User"] == "10001:10001"
    entrypoint = config["Entrypoint"]
    assert entrypoint == [f"hostpulse-{component}"], "exec form, no shell in between"
    health = config["HealthCheck"]
    assert isinstance(health, dict)
    assert health["Test"][0] == "CMD", "an exec-form HEALTHCHECK (kept: docker image format)"
    assert config["ExposedPorts"] == {PORTS[component]: {}}
    assert config["StopSignal"] == "SIGTERM"
    env = config["Env"]
    assert isinstance(env, list)
    assert {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"} <= set(env)
    with (REPO / "pyproject.toml").open("rb") as file:
        license_text = tomllib.load(file)["project"]["license"]["text"]
    labels = config["Labels"]
    assert isinstance(labels, dict)
    prefix = "org.opencontainers.image."
    assert labels[prefix + "title"] == f"hostpulse-{component}"
    assert labels[prefix + "version"] == project_version()
    assert labels[prefix + "licenses"] == license_text
    assert labels[prefix + "source"].startswith("https://")
    assert labels[prefix + "description"]


@pytest.mark.parametrize("component", COMPONENTS)
def test_image_holds_only_its_components_packages(
    podman_env: dict[str, str], hostpulse_images: dict[str, str], component: str
) -> None:
    output = podman(
        podman_env,
        *("run", "--rm", "--network", "host", "--pull=never", "--read-only"),
        *("--entrypoint", "python3", hostpulse_images[component]),
        *("-c", INVENTORY % (sorted(ALL_PACKAGES),)),
        timeout=120,
    )
    inventory = json.loads(output)
    distributions = set(inventory["distributions"])
    assert PRESENT[component] <= distributions
    assert not (ABSENT[component] | NEVER) & distributions
    assert set(inventory["packages"]) == OWN_PACKAGES[component]


def test_build_context_holds_only_what_the_images_need(
    podman_env: dict[str, str], base_image: str, tmp_path: Path
) -> None:
    """.dockerignore keeps .venv, tests, docs, caches and stray files out of every build."""
    stray = REPO / "exporter" / "__pycache__" / "stray.cpython-311.pyc"
    dockerfile = tmp_path / "context.Dockerfile"
    dockerfile.write_text(
        f"FROM {base_image}\nCOPY . /context/\n"
        'CMD ["python3", "-c", "import os; print(*sorted(os.listdir(\'/context\')))"]\n'
    )
    tag = f"localhost/hostpulse-context-check:{uuid.uuid4().hex[:8]}"
    created = not stray.exists()
    stray.parent.mkdir(exist_ok=True)
    stray.touch()
    try:
        podman(
            podman_env,
            *("build", "--pull=never", "--network", "host", "--file", str(dockerfile)),
            *("--tag", tag, str(REPO)),
            timeout=300,
        )
        top = podman(podman_env, "run", "--rm", "--network", "host", "--pull=never", tag).split()
        listing = podman(
            podman_env,
            *("run", "--rm", "--network", "host", "--pull=never", "--entrypoint", "find"),
            *(tag, "/context", "-name", "*.pyc"),
        )
    finally:
        if created:
            stray.unlink()
        subprocess.run(["podman", "rmi", "--force", tag], env=podman_env, capture_output=True)
    expected = {"pyproject.toml", "README.md", "constraints.txt", "docker", *ALL_PACKAGES}
    assert set(top) - {"build"} == expected
    assert listing.strip() == ""
