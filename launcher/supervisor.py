"""Child processes (backend, dashboard, exporter), each in its own process group and session.

Their pids are recorded in a file so a later run can clean up after a killed one.
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from launcher.stale import ChildRecord, kill_group, process_start_time, save_children

STOP_DEADLINE = 10.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_file: Path

    def exited(self) -> int | None:
        return self.process.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ChildFailed(RuntimeError):
    """A child exited or never became ready; the message says which and where its log is."""


class Supervisor:
    def __init__(self, children_file: Path, logs: Path) -> None:
        self._children_file = children_file
        self._logs = logs
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        self._logs.mkdir(parents=True, exist_ok=True)
        log_file = self._logs / f"{name}.log"
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: the terminal's Ctrl-C reaches only the launcher, which stops
                # the children in order (exporter first, so its last report is delivered).
                start_new_session=True,
            )
        child = Child(name, process, log_file)
        self.children.append(child)
        self._record()
        return child

    def first_exited(self) -> Child | None:
        return next((c for c in self.children if c.exited() is not None), None)

    def wait_ready(self, child: Child, url: str, timeout: float) -> None:
        """Poll `url` until it answers 2xx; ChildFailed if the child exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = child.exited()
            if code is not None:
                raise ChildFailed(
                    f"{child.name} exited with code {code} (log: {child.log_file})\n"
                    + child.log_tail()
                )
            if http_ok(url):
                return
            time.sleep(0.1)
        raise ChildFailed(
            f"{child.name} did not answer {url} within {timeout:.0f} s (log: {child.log_file})\n"
            + child.log_tail()
        )

    def stop_all(self, deadline: float = STOP_DEADLINE) -> None:
        """SIGTERM each child's group, newest first; SIGKILL what is left after `deadline`."""
        for child in reversed(self.children):
            kill_group(child.process.pid, signal.SIGTERM)
            try:
                child.process.wait(deadline)
            except subprocess.TimeoutExpired:
                kill_group(child.process.pid, signal.SIGKILL)
                child.process.wait()
            # Workers the child forked into its group die with it.
            kill_group(child.process.pid, signal.SIGKILL)
        self.children.clear()
        self._children_file.unlink(missing_ok=True)

    def _record(self) -> None:
        records = []
        for child in self.children:
            started = process_start_time(child.process.pid)
            if started is not None:
                records.append(ChildRecord(child.name, child.process.pid, started))
        save_children(self._children_file, records)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own http URL
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False
