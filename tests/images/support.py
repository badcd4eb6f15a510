"""Helpers for the image tests: what a running container is (user, read-only root), a CPU-busy
process with a name of the test's choosing, and the agent's Prometheus text."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.images.podman import Container, podman

# The numeric user and group every HostPulse image runs as (docker/*.Dockerfile).
IMAGE_UID = 10001


def unique(prefix: str) -> str:
    """`prefix-<8 hex>`: container, host and process names no other run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def host_pid(container: Container) -> int:
    """The container's main process as the host sees it."""
    return int(podman(container.env, "inspect", "--format", "{{.State.Pid}}", container.name))


def process_ids(pid: int) -> tuple[set[int], set[int]]:
    """(uids, gids) of a host process: real, effective, saved and filesystem ids."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return {int(v) for v in fields["Uid"]}, {int(v) for v in fields["Gid"]}


def write_attempt(container: Container, path: str) -> str:
    """What happens when the container's process user writes `path`: '' if it could."""
    code = f"open({path!r}, 'w').write('x')"
    done = subprocess.run(
        ["podman", "exec", container.name, "python3", "-c", code],
        env=dict(container.env),
        capture_output=True,
        check=False,
        timeout=60,
    )
    return "" if done.returncode == 0 else done.stderr.decode(errors="replace")


@contextlib.contextmanager
def busy_process(directory: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A process spinning one core whose kernel command name (`comm`) is `name` (≤ 15 chars)."""
    link = directory / name
    link.symlink_to(Path(sys.executable).resolve())
    process = subprocess.Popen([str(link), "-c", "while True: pass"])
    try:
        yield process
    finally:
        process.kill()
        process.wait(10)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text: str = answer.read().decode()
        return text


def wait_for_metric_line(
    container: Container, url: str, wanted: Mapping[str, str], timeout: float = 90
) -> str:
    """The first sample line (not a # comment) holding every `wanted` fragment; fails with the
    logs if none appears within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = scrape(url)
        for line in text.splitlines():
            if not line.startswith("#") and all(f in line for f in wanted.values()):
                return line
        time.sleep(1)
    raise AssertionError(
        f"no line with {dict(wanted)} at {url} within {timeout:.0f} s; last scrape:\n"
        f"{text[-3000:]}\nlogs:\n{container.logs()[-3000:]}"
    )
