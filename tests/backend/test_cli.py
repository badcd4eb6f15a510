"""`hostpulse-backend`: migrate, token create/list/revoke, and refusing bad settings."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import sys
from pathlib import Path

import asyncpg

from backend.cli import main
from backend.settings import BackendSettings

CLI = [sys.executable, "-m", "backend.cli"]


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def run_main(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`main()` in this process (a thread, as it runs its own event loop): fast, same result."""
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(list(args))

    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        code = await asyncio.to_thread(call)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return code, out.getvalue(), err.getvalue()


async def test_migrate_applies_once(empty_database_url: str) -> None:
    env = {"DATABASE_URL": empty_database_url}
    code, out, _ = await run_cli("migrate", env=env)  # the real entry point, once
    assert code == 0
    assert out.startswith("applied: 001_")
    code, out, _ = await run_main("migrate", env=env)
    assert (code, out.strip()) == (0, "database is up to date")


async def test_token_create_list_revoke(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    code, out, err = await run_main("token", "create", "--name", "web-1", env=env)
    assert code == 0, err
    token_id = int(re.search(r"^id: (\d+)$", out, re.M).group(1))  # type: ignore[union-attr]
    secret = re.search(r"^token: (\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
    assert "not shown again" in err

    code, out, _ = await run_main("token", "list", env=env)
    assert code == 0
    assert "web-1" in out
    assert str(token_id) in out
    assert secret not in out
    row = next(line for line in out.splitlines() if "web-1" in line)
    assert row.rstrip().endswith("-")  # not revoked

    code, out, _ = await run_main("token", "revoke", str(token_id), env=env)
    assert (code, out.strip()) == (0, f"revoked token {token_id}")
    code, _, err = await run_main("token", "revoke", str(token_id), env=env)
    assert code == 1
    assert f"no active token with id {token_id}" in err

    connection = await asyncpg.connect(database_url)
    try:
        revoked = await connection.fetchval(
            "SELECT revoked_at IS NOT NULL FROM agent_tokens WHERE id = $1", token_id
        )
    finally:
        await connection.close()
    assert revoked is True


async def test_invalid_settings_stop_with_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out, err = await run_cli(
        "serve", env={"DATABASE_URL": "postgresql://x/y", "HOSTPULSE_RECENT_WINDOW": "soon"}
    )
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("hostpulse-backend: settings: recent_window: ")

    config = tmp_path / "backend.yaml"
    config.write_text("database_url: postgresql://x/y\nworkers: 0\n", encoding="utf-8")
    code, _, err = await run_cli("serve", "--config", str(config), env={})
    assert code == 2
    assert "workers" in err


def test_serve_flags_override_settings() -> None:
    from backend.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "9123", "--workers", "2"])
    assert (args.command, args.port, args.workers, args.host) == ("serve", 9123, 2, None)
    assert BackendSettings.model_fields["port"].default == 8000
