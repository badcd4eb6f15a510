"""`hostpulse-backend serve | migrate | token create|list|revoke | user create | storage unseal`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.settings import BackendSettings, ConfigError, load_settings
from backend.storage.cli_commands import add_storage_parser, storage_command
from backend.users.cli_commands import add_user_parser, user_command

Command = Callable[[BackendSettings], Coroutine[Any, Any, int]]
# Young collections every 50,000 allocations instead of 700: a request allocates ~1,000 objects.
GC_THRESHOLD = (50_000, 20, 100)

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostpulse-backend", description="HostPulse backend: ingest, storage, live API."
    )
    parser.add_argument("--config", type=Path, help="YAML or JSON settings file")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server (uvicorn)")
    serve.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--tls-cert", type=Path, metavar="FILE", help="PEM certificate: serve HTTPS")
    serve.add_argument("--tls-key", type=Path, metavar="FILE", help="PEM private key of --tls-cert")
    serve.add_argument(
        "--tls-client-auth",
        choices=["none", "optional", "required"],
        help="ask clients for a certificate signed by --tls-client-ca (default none)",
    )
    serve.add_argument("--tls-client-ca", type=Path, metavar="FILE", help="PEM CA of client certs")

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")

    token = commands.add_parser("token", help="manage agent tokens")
    token.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token and print it once")
    create.add_argument("--name", required=True, help="what the token is for (e.g. web-1)")
    token_commands.add_parser("list", help="list tokens (never their secrets)")
    revoke = token_commands.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int, help="token id from `token list`")
    add_user_parser(commands)
    add_storage_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.command == "serve":
        overrides = {
            "host": args.host,
            "port": args.port,
            "workers": args.workers,
            "tls_cert": args.tls_cert,
            "tls_key": args.tls_key,
            "tls_client_auth": args.tls_client_auth,
            "tls_client_ca": args.tls_client_ca,
        }
    try:
        settings = load_settings(args.config, overrides)
    except ConfigError as exc:
        print(f"hostpulse-backend: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if args.command == "serve":
        return serve(settings, args.config)
    if args.command == "migrate":
        return _run(_migrate, settings)
    if args.command == "user":
        return _run(user_command(args), settings)
    if args.command == "storage":
        return _run(storage_command(args), settings)
    return _run(_token_command(args), settings)


def serve(settings: BackendSettings, config: Path | None) -> int:
    import uvicorn

    # Each worker builds its app from the environment: hand it the file and the flags there.
    if config is not None:
        os.environ["HOSTPULSE_CONFIG_FILE"] = str(config.resolve())
    os.environ["HOSTPULSE_HOST"] = settings.host
    os.environ["HOSTPULSE_PORT"] = str(settings.port)
    for name in ("tls_cert", "tls_key", "tls_client_ca"):
        value = getattr(settings, name)
        if value is not None:
            os.environ[f"HOSTPULSE_{name.upper()}"] = str(Path(value).resolve())
    os.environ["HOSTPULSE_TLS_CLIENT_AUTH"] = settings.tls_client_auth
    uvicorn.run(
        "backend.cli:served_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        lifespan="on",
        # On SIGTERM requests get this long to finish, then the writer as long to flush.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
        ws_max_size=64 * 1024,
        # Compressing each frame once per client costs more CPU than the whole fan-out.
        ws_per_message_deflate=False,
        **settings.uvicorn_ssl_options(),
    )
    return 0


def served_app() -> ASGIApp:
    """The uvicorn factory (one per worker): the app from the environment, GC tuned for ingest."""
    from backend.app import create_app_from_environment

    return FreezeAfterStartup(create_app_from_environment())


class FreezeAfterStartup:
    """Once the lifespan has started, move everything alive (modules, app, pools) out of the
    garbage collector's sight and make collections rarer: with ~60 samples per report, GC
    passes over a big, long-lived heap were most of the writer's enqueue cost."""

    def __init__(self, app: ASGIApp, threshold: tuple[int, int, int] = GC_THRESHOLD) -> None:
        self.app = app
        self._threshold = threshold

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_then_freeze(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                gc.collect()
                gc.freeze()
                gc.set_threshold(*self._threshold)
            await send(message)

        await self.app(scope, receive, send_then_freeze)


def _run(command: Command, settings: BackendSettings) -> int:
    try:
        return asyncio.run(command(settings))
    except (OSError, ConnectionError) as exc:
        print(f"hostpulse-backend: database_url: cannot connect: {exc}", file=sys.stderr)
        return 1


async def _migrate(settings: BackendSettings) -> int:
    from backend.storage.migrations import migrate_database

    applied = await migrate_database(settings.database_url)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def _token_command(args: argparse.Namespace) -> Command:
    async def run(settings: BackendSettings) -> int:
        import asyncpg

        from backend.auth import agent_tokens

        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            if args.token_command == "create":  # noqa: S105
                token_id, secret = await agent_tokens.create_token(pool, args.name)
                print(f"id: {token_id}")
                print(f"token: {secret}")
                print("store it now: it is not shown again", file=sys.stderr)
                return 0
            if args.token_command == "list":  # noqa: S105
                print(_token_table(await agent_tokens.list_tokens(pool)))
                return 0
            if await agent_tokens.revoke_token(pool, args.id):
                print(f"revoked token {args.id}")
                return 0
            print(f"hostpulse-backend: id: no active token with id {args.id}", file=sys.stderr)
            return 1
        finally:
            await pool.close()

    return run


def _token_table(tokens: Sequence[Any]) -> str:
    def when(value: datetime | None) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"

    rows = [("ID", "NAME", "CREATED", "LAST USED", "REVOKED")]
    rows += [
        (str(t.id), t.name, when(t.created_at), when(t.last_used_at), when(t.revoked_at))
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


if __name__ == "__main__":
    sys.exit(main())
