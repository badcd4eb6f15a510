"""`hostpulse-backend user create`: the password from stdin, env or a prompt, never a default."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys

import asyncpg
import pytest

from backend.users.cli_commands import PASSWORD_ENV, PasswordInputError, read_new_password

ARGS = argparse.Namespace(password_stdin=False)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def run_cli(database_url: str, *argv: str, stdin: str = "", **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backend.cli",
        *argv,
        env={**os.environ, "DATABASE_URL": database_url, **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(stdin.encode()), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_user_create_admin_reads_the_password_from_stdin(database_url: str) -> None:
    code, output = await run_cli(
        database_url, "user", "create", "root", "--admin", "--password-stdin",
        stdin="a password typed once\n",
    )  # fmt: skip
    assert code == 0, output
    assert "created admin 'root'" in output
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT role, password_hash FROM users WHERE name = 'root'")
    finally:
        await conn.close()
    assert row is not None
    assert row["role"] == "admin"
    assert row["password_hash"].startswith("$argon2id$")

    code, output = await run_cli(
        database_url, "user", "create", "root", "--password-stdin", stdin="another password!\n"
    )
    assert code == 1
    assert "already exists" in output


async def test_user_create_refuses_a_weak_or_missing_password(empty_database_url: str) -> None:
    code, output = await run_cli(
        empty_database_url, "user", "create", "vera", "--password-stdin", stdin="short\n"
    )
    assert code == 2
    assert "at least 12 characters" in output
    # Not a terminal, no --password-stdin, no variable: no password, and no guessing one.
    code, output = await run_cli(empty_database_url, "user", "create", "vera")
    assert code == 2
    assert PASSWORD_ENV in output


def test_password_sources() -> None:
    assert read_new_password(ARGS, stdin=io.StringIO(), environ={PASSWORD_ENV: "from env"}) == (
        "from env"
    )
    answers = iter(["typed twice", "typed twice"])
    typed = read_new_password(
        ARGS, stdin=FakeTerminal(), environ={}, prompt=lambda _: next(answers)
    )
    assert typed == "typed twice"
    differing = iter(["one", "two"])
    with pytest.raises(PasswordInputError, match="differ"):
        read_new_password(ARGS, stdin=FakeTerminal(), environ={}, prompt=lambda _: next(differing))
    with pytest.raises(PasswordInputError, match="no password"):
        read_new_password(ARGS, stdin=io.StringIO(), environ={})
