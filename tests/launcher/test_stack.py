"""`hostpulse up` as a user runs it: real PostgreSQL, Redis, backend, dashboard and exporter."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

PASSWORD = "correct-horse-battery-staple"
START_TIMEOUT = 90.0  # a cold start (initdb, 12 migrations) on a busy 2-core machine


class Up:
    """`hostpulse up` in a subprocess; its stdout is collected line by line."""

    def __init__(self, home: Path, ports: dict[str, int]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTPULSE_")}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        env.update(
            HOME=str(home),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            HOSTPULSE_ADMIN_PASSWORD=PASSWORD,
        )
        argv = [sys.executable, "-m", "launcher.cli", "up"]
        for name, port in ports.items():
            argv += [f"--{name}-port", str(port)]
        self.process = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in line for line in self.lines):
                return
            if self.process.poll() is not None:
                self._reader.join(5)
                break
            time.sleep(0.1)
        pytest.fail(f"no line with {needle!r}; output so far:\n{self.output()}")

    def finish(self, timeout: float = 60.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.finish()


def processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line or environment mentions `text`."""
    needle, found = text.encode(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {shown}")
    return found


def wait_for_no_process_mentioning(text: str, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def login(backend: str) -> str:
    body = json.dumps({"username": "admin", "password": PASSWORD, "token": True}).encode()
    request = urllib.request.Request(
        f"{backend}/api/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["token"])


def hosts(backend: str, token: str) -> list[dict[str, str]]:
    request = urllib.request.Request(
        f"{backend}/api/hosts", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return list(json.load(response)["hosts"])


def recent_metric_names(backend: str, token: str, host: str) -> set[str]:
    request = urllib.request.Request(
        f"{backend}/api/metrics/recent?host={host}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return {sample["name"] for sample in json.load(response)["samples"]}


def wait_for_local_host_with_data(backend: str, token: str, timeout: float) -> set[str]:
    """The metric names of this host's recent window, once it is listed as up."""
    name = socket.gethostname()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(h["name"] == name and h["status"] == "up" for h in hosts(backend, token)):
            names = recent_metric_names(backend, token, name)
            if names:
                return names
        time.sleep(0.25)
    pytest.fail(f"{name} not in /api/hosts with data within {timeout} s")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status) == 200
    except OSError:
        return False


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    yield home
    # Whatever a failed test left running must not outlive it.
    for line in processes_mentioning(str(home)):
        pid = int(line.split(":", 1)[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_up_serves_the_local_host_survives_sigkill_and_stops_cleanly(home: Path) -> None:
    ports = {"backend": free_port(), "dashboard": free_port(), "exporter": free_port()}
    backend = f"http://127.0.0.1:{ports['backend']}"
    first = Up(home, ports)
    try:
        first.wait_for_line("ready: open")
        assert answers(f"{backend}/readyz")
        assert "dashboard: ready" in first.output()
        assert answers(f"http://127.0.0.1:{ports['dashboard']}/")
        names = wait_for_local_host_with_data(backend, login(backend), timeout=10.0)
        assert any(name.startswith("system_cpu") for name in names), names
        assert "created the admin 'admin'" in first.output()
        assert PASSWORD not in first.output()  # it came from the environment: not echoed

        second = Up(home, ports)  # same data dir, at the same time
        assert second.finish() == 2
        assert "already running" in second.output()

        first.process.send_signal(signal.SIGKILL)
        first.finish()
        assert processes_mentioning(str(home)), "the killed run should have left its servers"
    finally:
        first.kill()

    again = Up(home, ports)
    try:
        again.wait_for_line("ready: open")
        out = again.output()
        assert "cleaned up after a killed run" in out
        assert "created the admin" not in out  # first start only
        assert "agent token: created" not in out  # the kept token is reused
        assert wait_for_local_host_with_data(backend, login(backend), timeout=10.0)

        again.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert again.finish() == 0
    finally:
        again.kill()
    assert wait_for_no_process_mentioning(str(home)) == []
