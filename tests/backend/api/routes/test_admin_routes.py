"""The admin APIs: users (argon2 hashes, last-admin guard) and agent tokens (secret shown once)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.backend.auth.support import PASSWORD, anonymous, make_user, session_for
from tests.backend.running import (
    RunningBackend,
    agent_report,
    serve,
    service_settings,
    wait_for,
)


@pytest.fixture
async def admin(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> AsyncIterator[tuple[RunningBackend, dict[str, str]]]:
    user = await make_user(database_url, "ada", "admin")
    headers = {"Authorization": f"Bearer {await session_for(database_url, user)}"}
    settings = service_settings(database_url, redis_url, redis_prefix)
    async with serve(settings, log_in=False) as shared, anonymous(shared) as backend:
        yield backend, headers


async def test_users_are_created_with_argon2_hashes_and_never_shown_them(
    admin: tuple[RunningBackend, dict[str, str]], database_url: str
) -> None:
    backend, headers = admin
    created = await backend.client.post(
        "/api/users", json={"name": "vera", "password": "a long enough password"}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "viewer"
    listed = (await backend.client.get("/api/users", headers=headers)).json()["users"]
    assert {"ada", "vera"} <= {u["name"] for u in listed}
    assert all(set(u) == {"id", "name", "role", "created_at"} for u in listed)
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE name = 'vera'")
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$")
    assert "a long enough password" not in stored
    login = await backend.client.post(
        "/api/auth/login", json={"username": "vera", "password": "a long enough password"}
    )
    assert login.status_code == 200


async def test_bad_user_input_is_refused_naming_the_problem(
    admin: tuple[RunningBackend, dict[str, str]],
) -> None:
    backend, headers = admin
    short = await backend.client.post(
        "/api/users", json={"name": "vera", "password": "short"}, headers=headers
    )
    assert short.status_code == 422
    assert "at least 12 characters" in short.json()["detail"]
    taken = await backend.client.post(
        "/api/users", json={"name": "ada", "password": PASSWORD}, headers=headers
    )
    assert taken.status_code == 409
    bad_role = await backend.client.post(
        "/api/users", json={"name": "x", "password": PASSWORD, "role": "root"}, headers=headers
    )
    assert bad_role.status_code == 422


async def test_the_last_admin_cannot_be_removed_or_demoted(
    admin: tuple[RunningBackend, dict[str, str]],
) -> None:
    backend, headers = admin
    me = (await backend.client.get("/api/auth/me", headers=headers)).json()
    demote = await backend.client.patch(
        f"/api/users/{me['id']}", json={"role": "viewer"}, headers=headers
    )
    assert demote.status_code == 409
    delete = await backend.client.delete(f"/api/users/{me['id']}", headers=headers)
    assert delete.status_code == 409
    assert (await backend.client.delete("/api/users/999999", headers=headers)).status_code == 404


async def test_a_password_change_ends_the_users_sessions(
    admin: tuple[RunningBackend, dict[str, str]], database_url: str
) -> None:
    backend, headers = admin
    vera = await make_user(database_url, "vera", "viewer")
    vera_headers = {"Authorization": f"Bearer {await session_for(database_url, vera)}"}
    assert (await backend.client.get("/api/auth/me", headers=vera_headers)).status_code == 200
    changed = await backend.client.patch(
        f"/api/users/{vera.id}", json={"password": "a brand new password"}, headers=headers
    )
    assert changed.status_code == 200
    assert (await backend.client.get("/api/auth/me", headers=vera_headers)).status_code == 401


async def test_agent_tokens_are_shown_once_and_revocation_stops_ingest(
    admin: tuple[RunningBackend, dict[str, str]],
) -> None:
    backend, headers = admin
    created = await backend.client.post(
        "/api/agent-tokens", json={"name": "web-1"}, headers=headers
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("hp_")
    listed = (await backend.client.get("/api/agent-tokens", headers=headers)).json()["tokens"]
    mine = [t for t in listed if t["name"] == "web-1"]
    assert len(mine) == 1
    assert "token" not in mine[0]
    assert token not in str(listed)

    agent = {"Authorization": f"Bearer {token}"}

    async def ingest() -> httpx.Response:
        return await backend.client.post(
            "/ingest/metrics", json=agent_report("web-1"), headers=agent
        )

    assert (await ingest()).status_code == 200
    revoked = await backend.client.delete(
        f"/api/agent-tokens/{created.json()['id']}", headers=headers
    )
    assert revoked.status_code == 204

    async def refused() -> bool:
        return (await ingest()).status_code == 401

    # Verdicts are cached for up to 5 s per process.
    await wait_for(refused, within=15, what="the revoked token to be refused")
    again = await backend.client.delete(
        f"/api/agent-tokens/{created.json()['id']}", headers=headers
    )
    assert again.status_code == 404
