from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import asyncpg
import pytest

from backend.auth.agent_tokens import AgentTokenVerifier, revoke_token
from backend.users.store import authenticate
from launcher.credentials import (
    ADMIN_NAME,
    ADMIN_PASSWORD_ENV,
    CredentialError,
    choose_admin_password,
    ensure_admin,
    ensure_agent_token,
    read_token_file,
    write_secret_file,
)


def test_secret_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "agent-token"
    write_secret_file(path, "hp_secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "hp_secret\n"
    write_secret_file(path, "hp_other")  # replaced, still private, no partial file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["agent-token"]


def test_token_file_that_is_missing_empty_or_foreign_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "agent-token"
    assert read_token_file(path) is None
    path.write_text("\n")
    assert read_token_file(path) is None
    path.write_text("not-a-hostpulse-token-at-all\n")
    assert read_token_file(path) is None
    path.write_text("hp_" + "a" * 43 + "\n")
    assert read_token_file(path) == "hp_" + "a" * 43


def test_admin_password_comes_from_the_environment_or_is_generated() -> None:
    given = choose_admin_password({ADMIN_PASSWORD_ENV: "correct-horse-battery"})
    assert (given.value, given.generated) == ("correct-horse-battery", False)
    first, second = choose_admin_password({}), choose_admin_password({})
    assert first.generated
    assert len(first.value) >= 20
    assert first.value != second.value


def test_a_too_short_admin_password_is_refused_naming_the_variable() -> None:
    with pytest.raises(CredentialError, match=ADMIN_PASSWORD_ENV):
        choose_admin_password({ADMIN_PASSWORD_ENV: "short"})


async def test_the_admin_is_created_once_and_can_log_in(pool: asyncpg.Pool) -> None:
    environ = {ADMIN_PASSWORD_ENV: "correct-horse-battery"}
    created = await ensure_admin(pool, environ)
    assert created is not None
    assert not created.generated
    assert await ensure_admin(pool, {}) is None  # a restart never makes another password
    user = await authenticate(pool, ADMIN_NAME, "correct-horse-battery")
    assert user is not None
    assert user.role == "admin"
    stored = await pool.fetchval("SELECT password_hash FROM users WHERE name = $1", ADMIN_NAME)
    assert "correct-horse-battery" not in stored


async def test_agent_token_is_reused_across_restarts_and_replaced_when_revoked(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    token_file = tmp_path / "agent-token"
    assert await ensure_agent_token(pool, token_file, "local") is True
    token = read_token_file(token_file)
    assert token is not None
    verifier = AgentTokenVerifier(pool, cache_seconds=0)
    token_id = await verifier.verify(token)
    assert token_id is not None
    stored = await pool.fetchval("SELECT token_hash FROM agent_tokens WHERE id = $1", token_id)
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()  # the hash, never the token

    assert await ensure_agent_token(pool, token_file, "local") is False
    assert read_token_file(token_file) == token

    await revoke_token(pool, token_id)
    assert await ensure_agent_token(pool, token_file, "local") is True
    renewed = read_token_file(token_file)
    assert renewed is not None
    assert renewed != token
    assert await verifier.verify(renewed) is not None
