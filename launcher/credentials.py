"""The first admin and the local exporter's agent token.

The admin's password is printed once and only its argon2 hash is stored (by the backend's user
store). The agent token lives in a 0600 file so restarts reuse it; the database keeps its SHA-256.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from backend.auth import agent_tokens
from backend.auth.passwords import PasswordPolicyError, check_password_policy
from backend.users.store import create_user, has_users

ADMIN_NAME = "admin"
ADMIN_PASSWORD_ENV = "HOSTPULSE_ADMIN_PASSWORD"  # noqa: S105 - the variable's name


class CredentialError(ValueError):
    """A credential given by the user is unusable (the message names which one)."""


@dataclass(frozen=True, slots=True)
class AdminPassword:
    value: str
    generated: bool


def choose_admin_password(environ: Mapping[str, str]) -> AdminPassword:
    """The password from the environment (checked against the policy), else a random one."""
    given = environ.get(ADMIN_PASSWORD_ENV)
    if given is None:
        return AdminPassword(secrets.token_urlsafe(18), generated=True)
    try:
        check_password_policy(given)
    except PasswordPolicyError as exc:
        raise CredentialError(f"{ADMIN_PASSWORD_ENV}: {exc}") from None
    return AdminPassword(given, generated=False)


def write_secret_file(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only; never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    os.replace(partial, path)


def read_token_file(path: Path) -> str | None:
    """The token kept in `path`; None when missing, empty or not a HostPulse token."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not text.startswith(agent_tokens.TOKEN_PREFIX) or len(text) < 20:
        return None
    return text


async def ensure_admin(pool: asyncpg.Pool, environ: Mapping[str, str]) -> AdminPassword | None:
    """Create the admin when the database has no user yet; its password when created now."""
    if await has_users(pool):
        return None
    password = choose_admin_password(environ)
    await create_user(pool, ADMIN_NAME, password.value, "admin")
    return password


async def ensure_agent_token(pool: asyncpg.Pool, token_file: Path, name: str) -> bool:
    """Keep the token in `token_file` if the database knows it and it is active, else create
    one and store it there. True when a new token was created."""
    kept = read_token_file(token_file)
    if kept is not None and await agent_tokens.is_active(pool, kept):
        return False
    _, token = await agent_tokens.create_token(pool, name)
    write_secret_file(token_file, token)
    return True
