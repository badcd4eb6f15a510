"""`scripts/build-images` as an operator runs it: progress lines, then each image's size in MB
against its target."""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from tests.images.fixtures import IMAGE_TEST_TIMEOUT
from tests.images.podman import REPO

pytestmark = [pytest.mark.images, pytest.mark.timeout(IMAGE_TEST_TIMEOUT)]

SCRIPT = str(REPO / "scripts" / "build-images")


def test_help_names_the_size_targets_and_the_offline_default() -> None:
    done = subprocess.run([SCRIPT, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "agent <= 150 MB" in done.stdout
    assert "backend <= 300 MB" in done.stdout
    assert "--wheelhouse DIR" in done.stdout
    assert "--online" in done.stdout


def test_an_unknown_component_is_refused_with_the_choices() -> None:
    done = subprocess.run([SCRIPT, "--only", "grafana"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "exporter" in done.stderr
    assert "backend" in done.stderr


def test_building_the_agent_prints_progress_and_its_size_against_the_target(
    podman_env: dict[str, str], hostpulse_images: dict[str, str]
) -> None:
    """Runs after the session's images exist, so podman's layer cache makes this quick."""
    tag = f"script-{uuid.uuid4().hex[:8]}"
    name = f"localhost/hostpulse-exporter:{tag}"
    try:
        done = subprocess.run(
            [SCRIPT, "--only", "exporter", "--tag", tag],
            capture_output=True,
            text=True,
            env=podman_env,
            timeout=IMAGE_TEST_TIMEOUT - 60,
        )
    finally:
        subprocess.run(["podman", "rmi", "--force", name], env=podman_env, capture_output=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"==> building {name}" in done.stderr
    assert f"==> built {name} in " in done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith(name))
    size = re.search(r"\s(\d+\.\d) MB", line)
    assert size is not None, line
    assert 20 < float(size.group(1)) < 1000
    assert re.search(r"target <= 150 MB: (ok|OVER)$", line), line
    assert "(base)" in done.stdout
