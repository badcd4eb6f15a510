"""Session fixtures for every test that runs the HostPulse images (tests/images, tests/k8s):
podman with the private config, the cached debootstrap base image, the offline wheelhouse and the
three images built from it. Registered once in tests/conftest.py, so the images are built once per
pytest session whichever test packages run (and not at all when nothing they are built from has
changed since an earlier session: see `podman.build_image(reuse=True)`).

podman, buildah, runc and debootstrap are needed (scripts/test installs them): without them these
tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os

import pytest

from tests.images import podman

# A fresh machine makes the base image (~1 min), the wheelhouse and three images (~3 min on a
# busy 2-core machine) inside the first test that asks for them: give image tests this long.
IMAGE_TEST_TIMEOUT = 900


def require_image_tools() -> None:
    missing = podman.missing_programs()
    if missing:
        message = f"{', '.join(missing)} not installed (scripts/test installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def podman_env() -> dict[str, str]:
    require_image_tools()
    return podman.podman_environment()


@pytest.fixture(scope="session")
def base_image(podman_env: dict[str, str]) -> str:
    return podman.ensure_base_image(podman_env)


@pytest.fixture(scope="session")
def hostpulse_images(podman_env: dict[str, str], base_image: str) -> dict[str, str]:
    """component -> image name, built offline (`--no-index`) from the host's wheelhouse; each
    image is also tagged `<version>` (the tag the manifests use)."""
    wheelhouse = podman.ensure_wheelhouse(podman.wheelhouse_python(podman_env, base_image))
    images = podman.build_images(
        podman_env, base_image=base_image, wheelhouse=wheelhouse, reuse=True
    )
    podman.prune_test_images(podman_env, keep=set(images.values()))
    return images
