"""`hostpulse-backend storage unseal --yes`: sealed history back into rows, for a downgrade."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any


def add_storage_parser(commands: Any) -> None:
    """Adds `storage unseal` to the CLI's subcommands."""
    storage = commands.add_parser("storage", help="raw history storage")
    storage.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")
    storage_commands = storage.add_subparsers(dest="storage_command", required=True)
    unseal = storage_commands.add_parser(
        "unseal",
        help="before a downgrade below migration 041: every sealed chunk back into rows, the "
        "schema of the older releases back (stop every backend first; docs/storage.md)",
    )
    unseal.add_argument(
        "--yes", action="store_true", help="do it (without it, say what would happen)"
    )


def storage_command(args: argparse.Namespace) -> Callable[[Any], Coroutine[Any, Any, int]]:
    """The coroutine function `cli._run` calls with the settings."""

    async def run(settings: Any) -> int:
        import asyncpg

        from backend.storage.unseal import UnsealError, unseal

        if not args.yes:
            print(
                "hostpulse-backend: storage unseal rewrites every sealed sample as a row and "
                "puts back the storage schema of releases before migration 041, for a "
                "downgrade; the backend cannot run on the database afterwards until it is "
                "migrated again. Stop every backend process, then run it with --yes.",
                file=sys.stderr,
            )
            return 2
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            report = await unseal(pool, say=lambda line: print(line, flush=True))
        except UnsealError as exc:
            print(f"hostpulse-backend: storage unseal: {exc}", file=sys.stderr)
            return 1
        finally:
            await pool.close()
        print(
            f"{report.samples:,} samples of {report.days} days are rows again; migration 041 is "
            "undone: start the older release now"
        )
        return 0

    return run
