"""PostgreSQL from the `pgserver` wheel, in the data directory, reachable by its unix socket."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import asyncpg

DATABASE = "hostpulse"
# pgserver runs postgres as this system user when started as root (postgres refuses root).
_ROOT_SYSTEM_USER = "pgserver"
_STOP_TIMEOUT = 30.0


class EmbeddedPostgres:
    """A running embedded server; `stop()` shuts it down (fast mode)."""

    def __init__(self, pgdata: Path, admin_url: str) -> None:
        self.pgdata = pgdata
        self.admin_url = admin_url

    def url(self, database: str = DATABASE) -> str:
        base, _, query = self.admin_url.partition("?")
        return base.rsplit("/", 1)[0] + "/" + database + ("?" + query if query else "")

    def stop(self) -> None:
        stop_postgres(self.pgdata)


def start_postgres(pgdata: Path) -> EmbeddedPostgres:
    """Initialise `pgdata` on first use and start the server (no TCP, socket in `pgdata`)."""
    _import_pgserver_quietly()
    from pgserver.postgres_server import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the launcher stops the server itself, in order, after its clients.
    server = get_server(pgdata, cleanup_mode=None)
    return EmbeddedPostgres(pgdata, server.get_uri())


async def ensure_database(admin_url: str, database: str = DATABASE) -> bool:
    """Create `database` unless it exists; True when created now."""
    conn = await asyncpg.connect(admin_url)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            return False
        await conn.execute(f'CREATE DATABASE "{database}"')
        return True
    finally:
        await conn.close()


def postmaster_pid(text: str) -> int | None:
    """The postmaster's pid from the first line of `postmaster.pid`, None if unreadable."""
    first = text.split("\n", 1)[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else None


def running_postmaster(pgdata: Path) -> int | None:
    """The pid of a live postmaster serving `pgdata`, judged by `postmaster.pid`."""
    try:
        pid = postmaster_pid((pgdata / "postmaster.pid").read_text(encoding="utf-8"))
    except OSError:
        return None
    if pid is None:
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # A recycled pid belongs to some other program: leave it alone.
    return pid if b"postgres" in cmdline else None


def stop_postgres(pgdata: Path, timeout: float = _STOP_TIMEOUT) -> bool:
    """Stop the server on `pgdata` if one runs (pg_ctl, then signals); True when one was stopped."""
    pid = running_postmaster(pgdata)
    if pid is None:
        return False
    _import_pgserver_quietly()
    from pgserver._commands import POSTGRES_BIN_PATH

    user = _ROOT_SYSTEM_USER if os.geteuid() == 0 else None
    try:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            check=True,
            capture_output=True,
            timeout=timeout,
            user=user,
        )
    except (subprocess.SubprocessError, OSError):
        # SIGQUIT is postgres' immediate shutdown: crash-safe, the next start replays the WAL.
        _signal_and_wait(pid, timeout)
    return True


def _signal_and_wait(pid: int, timeout: float) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGQUIT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)


def _import_pgserver_quietly() -> None:
    import warnings

    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR
        # platformdirs warns and falls back to /tmp/runtime-UID, which is fine here.
        warnings.simplefilter("ignore")
        import pgserver  # noqa: F401
