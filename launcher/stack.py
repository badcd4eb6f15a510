"""`hostpulse up`: start the stack in order, watch it, stop it in reverse order."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from launcher import embedded_postgres, embedded_redis
from launcher.credentials import ADMIN_NAME, AdminPassword, CredentialError
from launcher.paths import StackPaths
from launcher.stale import AlreadyRunning, DataDirLock, stop_stale_children
from launcher.supervisor import ChildFailed, Supervisor

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
READY_TIMEOUT = 60.0
_WATCH_INTERVAL = 0.25


@dataclass(frozen=True, slots=True)
class UpOptions:
    data_dir: Path
    backend_port: int = 8000
    dashboard_port: int = 8080
    exporter_port: int = 9860
    exporter: bool = True


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived."""


def say(line: str) -> None:
    print(f"hostpulse: {line}", flush=True)


def run_up(options: UpOptions, environ: Mapping[str, str]) -> int:
    paths = StackPaths(options.data_dir)
    lock = DataDirLock(paths.lock_file)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(f"hostpulse: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"hostpulse: data dir {options.data_dir}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    previous = _install_stop_handlers()
    cleanup = ExitStack()
    try:
        return _start_and_watch(options, paths, environ, cleanup)
    except StopRequested:
        say("stopping")
        return EXIT_OK
    except CredentialError as exc:
        print(f"hostpulse: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ChildFailed, RuntimeError, OSError) as exc:
        print(f"hostpulse: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        # Stopping must not be cut short by a second Ctrl-C; every step has its own deadline.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        cleanup.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        lock.release()
        say("stopped")


def _start_and_watch(
    options: UpOptions, paths: StackPaths, environ: Mapping[str, str], cleanup: ExitStack
) -> int:
    clean_after_killed_run(paths)
    database_url = environ.get("HOSTPULSE_DATABASE_URL") or environ.get("DATABASE_URL")
    if database_url:
        say("PostgreSQL: using DATABASE_URL")
    else:
        # Registered first: a Ctrl-C while it starts still stops it (found by postmaster.pid).
        cleanup.callback(_stopping, "PostgreSQL", embedded_postgres.stop_postgres, paths.pgdata)
        postgres = embedded_postgres.start_postgres(paths.pgdata)
        asyncio.run(embedded_postgres.ensure_database(postgres.admin_url))
        database_url = postgres.url()
        say(f"PostgreSQL: embedded, data in {paths.pgdata}")
    redis_url = environ.get("HOSTPULSE_REDIS_URL") or environ.get("REDIS_URL")
    if redis_url:
        say("Redis: using REDIS_URL")
    else:
        cleanup.callback(
            _stopping, "Redis", embedded_redis.stop_redis, paths.redis_socket, paths.redis_pid_file
        )
        redis = embedded_redis.start_redis(
            paths.redis_socket, paths.redis_pid_file, paths.logs / "redis.log"
        )
        redis_url = redis.url
        say(f"Redis: embedded, socket {redis.socket}")

    admin = asyncio.run(prepare_database(database_url, paths.token_file, environ))
    _announce_admin(admin)

    supervisor = Supervisor(paths.children_file, paths.logs)
    cleanup.callback(_stopping, "backend, dashboard and exporter", supervisor.stop_all)
    backend_url = f"http://127.0.0.1:{options.backend_port}"
    dashboard_url = f"http://127.0.0.1:{options.dashboard_port}"
    env = child_environment(environ, database_url, redis_url, dashboard_url)

    backend = supervisor.start(
        "backend",
        [
            *entry_point("hostpulse-backend", "backend.cli"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(options.backend_port),
        ],
        env,
    )
    supervisor.wait_ready(backend, f"{backend_url}/readyz", READY_TIMEOUT)
    say(f"backend: ready at {backend_url} (log: {backend.log_file})")

    has_dashboard = importlib.util.find_spec("dashboards.cli") is not None
    if has_dashboard:
        dashboard = supervisor.start(
            "dashboard",
            [
                *entry_point("hostpulse-dashboard", "dashboards.cli"),
                "--host",
                "127.0.0.1",
                "--port",
                str(options.dashboard_port),
                "--backend-url",
                backend_url,
            ],
            env,
        )
        supervisor.wait_ready(dashboard, f"{dashboard_url}/", READY_TIMEOUT)
        say(f"dashboard: ready at {dashboard_url} (log: {dashboard.log_file})")
    else:
        say("warning: the dashboard is not installed (dashboards.cli); starting without it")

    if options.exporter:
        exporter = supervisor.start(
            "exporter",
            [
                *entry_point("hostpulse-exporter", "exporter.cli"),
                "--backend-url",
                f"{backend_url}/ingest/metrics",
                "--token-file",
                str(paths.token_file),
                "--listen",
                f"127.0.0.1:{options.exporter_port}",
            ],
            env,
        )
        exporter_metrics = f"http://127.0.0.1:{options.exporter_port}/metrics"
        supervisor.wait_ready(exporter, exporter_metrics, READY_TIMEOUT)
        say(f"exporter: pushing this host's metrics (log: {exporter.log_file})")

    where = dashboard_url if has_dashboard else f"{backend_url}/docs"
    say(f"ready: open {where} and log in as {ADMIN_NAME!r}; Ctrl-C stops everything")
    return watch(supervisor)


def watch(supervisor: Supervisor) -> int:
    """Block until a signal (StopRequested) or a child exits by itself (an error)."""
    while True:
        child = supervisor.first_exited()
        if child is not None:
            print(
                f"hostpulse: {child.name} exited with code {child.exited()} "
                f"(log: {child.log_file}); stopping\n{child.log_tail()}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        time.sleep(_WATCH_INTERVAL)


def clean_after_killed_run(paths: StackPaths) -> None:
    """Stop whatever a killed `hostpulse up` on this data directory left running."""
    left = [f"{r.name} (pid {r.pid})" for r in stop_stale_children(paths.children_file)]
    if embedded_redis.stop_redis(paths.redis_socket, paths.redis_pid_file):
        left.append("Redis")
    if embedded_postgres.stop_postgres(paths.pgdata):
        left.append("PostgreSQL")
    if left:
        say("cleaned up after a killed run: stopped " + ", ".join(left))


async def prepare_database(
    database_url: str, token_file: Path, environ: Mapping[str, str]
) -> AdminPassword | None:
    """Migrations, the first admin (its password when created now) and the agent token."""
    from backend.storage.migrations import migrate_database
    from backend.storage.postgres import create_pool
    from launcher.credentials import ensure_admin, ensure_agent_token

    applied = await migrate_database(database_url)
    say(f"database: {len(applied)} migration(s) applied" if applied else "database: up to date")
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        admin = await ensure_admin(pool, environ)
        if await ensure_agent_token(pool, token_file, f"hostpulse up ({socket.gethostname()})"):
            say(f"agent token: created for the local exporter, kept in {token_file}")
        return admin
    finally:
        await pool.close()


def child_environment(
    environ: Mapping[str, str], database_url: str, redis_url: str, dashboard_url: str
) -> dict[str, str]:
    """The children's environment: the caller's, minus the admin password, plus the stack's."""
    env = {k: v for k, v in environ.items() if k != "HOSTPULSE_ADMIN_PASSWORD"}
    for name in ("HOSTPULSE_DATABASE_URL", "HOSTPULSE_REDIS_URL"):
        env.pop(name, None)
    env["DATABASE_URL"] = database_url
    env["REDIS_URL"] = redis_url
    # The UI calls the backend with credentials from its own origin.
    env.setdefault("HOSTPULSE_CORS_ORIGINS", json.dumps([dashboard_url]))
    return env


def entry_point(script: str, module: str) -> list[str]:
    """The console script installed beside this Python, else the module's `main` run by it."""
    installed = Path(sys.executable).with_name(script)
    if installed.exists():
        return [str(installed)]
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]


def _announce_admin(admin: AdminPassword | None) -> None:
    if admin is None:
        return
    if admin.generated:
        say(f"created the admin {ADMIN_NAME!r} with the password: {admin.value}")
        say("this password is shown only once and not stored anywhere: note it now")
    else:
        say(f"created the admin {ADMIN_NAME!r} with the password from HOSTPULSE_ADMIN_PASSWORD")


def _stopping(what: str, stop: Callable[..., object], *args: object) -> None:
    say(f"stopping {what}")
    try:
        stop(*args)
    except Exception as exc:  # keep stopping the rest; say what could not be stopped
        print(f"hostpulse: could not stop {what}: {exc}", file=sys.stderr)


def _install_stop_handlers() -> dict[signal.Signals, signal._HANDLER]:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        for each in (signal.SIGINT, signal.SIGTERM):
            signal.signal(each, signal.SIG_IGN)
        raise StopRequested

    previous: dict[signal.Signals, signal._HANDLER] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, request_stop)
    return previous
