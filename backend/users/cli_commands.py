"""`hostpulse-backend user create NAME [--admin]`: the password comes from a prompt, from stdin
(`--password-stdin`) or from `HOSTPULSE_USER_PASSWORD`; there is never a default."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

PASSWORD_ENV = "HOSTPULSE_USER_PASSWORD"  # noqa: S105 - the variable's name, not a password


class PasswordInputError(ValueError):
    pass


def add_user_parser(commands: Any) -> None:
    """Adds `user create` to the CLI's subcommands."""
    user = commands.add_parser("user", help="manage dashboard users")
    user.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    create = user_commands.add_parser("create", help="create a user (viewer unless --admin)")
    create.add_argument("name", help="the login name")
    create.add_argument("--admin", action="store_true", help="give the admin role")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )


def read_new_password(
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    environ: dict[str, str] | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
) -> str:
    stdin = stdin or sys.stdin
    environ = environ if environ is not None else dict(os.environ)
    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    elif environ.get(PASSWORD_ENV):
        password = environ[PASSWORD_ENV]
    elif stdin.isatty():
        password = prompt("Password: ")
        if prompt("Repeat password: ") != password:
            raise PasswordInputError("the passwords differ")
    else:
        raise PasswordInputError(
            f"no password: use a terminal, --password-stdin or the {PASSWORD_ENV} variable"
        )
    if not password:
        raise PasswordInputError("the password is empty")
    return password


def user_command(args: argparse.Namespace) -> Callable[[Any], Coroutine[Any, Any, int]]:
    """The coroutine function `cli._run` calls with the settings."""

    async def run(settings: Any) -> int:
        import asyncpg

        from backend.auth.passwords import PasswordPolicyError
        from backend.storage.migrations import migrate_database
        from backend.users.store import UserExistsError, create_user

        try:
            password = read_new_password(args)
        except PasswordInputError as exc:
            print(f"hostpulse-backend: password: {exc}", file=sys.stderr)
            return 2
        await migrate_database(settings.database_url)
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            role = "admin" if args.admin else "viewer"
            user = await create_user(pool, args.name, password, role)
        except PasswordPolicyError as exc:
            print(f"hostpulse-backend: password: {exc}", file=sys.stderr)
            return 2
        except UserExistsError as exc:
            print(f"hostpulse-backend: name: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"hostpulse-backend: {exc}", file=sys.stderr)
            return 2
        finally:
            await pool.close()
        print(f"created {user.role} {user.name!r} (id {user.id})")
        return 0

    return run
