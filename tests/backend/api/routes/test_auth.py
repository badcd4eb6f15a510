"""Login, logout and expiry against the real backend (PostgreSQL, Redis, uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.backend.auth.support import PASSWORD, anonymous, expire_sessions, make_user
from tests.backend.running import RunningBackend, serve, service_settings

ADMIN_PASSWORD = "an admin password from the environment"


@pytest.fixture
async def backend(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> AsyncIterator[RunningBackend]:
    settings = service_settings(database_url, redis_url, redis_prefix)
    async with serve(settings, log_in=False) as shared, anonymous(shared) as running:
        yield running


async def login(client: httpx.AsyncClient, name: str, password: str, **kw: Any) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": name, "password": password, **kw})


async def test_login_sets_an_httponly_strict_cookie_that_opens_the_read_api(
    backend: RunningBackend, database_url: str
) -> None:
    await make_user(database_url, "vera", "viewer")
    client = backend.client
    assert (await client.get("/api/hosts")).status_code == 401

    response = await login(client, "vera", PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["name"] == "vera"
    assert body["user"]["role"] == "viewer"
    assert "token" not in body  # only when asked for
    cookie = response.headers["set-cookie"].lower()
    assert "hostpulse_session=hps_" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" not in cookie  # not configured

    assert (await client.get("/api/auth/me")).json()["name"] == "vera"
    assert (await client.get("/api/hosts")).status_code == 200


async def test_a_bearer_token_on_request_works_without_cookies(
    backend: RunningBackend, database_url: str
) -> None:
    await make_user(database_url, "api-client", "viewer")
    response = await login(backend.client, "api-client", PASSWORD, token=True)
    token = response.json()["token"]
    assert token.startswith("hps_")
    async with httpx.AsyncClient(base_url=backend.base_url) as fresh:
        me = await fresh.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["name"] == "api-client"


async def test_wrong_password_and_unknown_user_get_the_same_401(
    backend: RunningBackend, database_url: str
) -> None:
    await make_user(database_url, "vera", "viewer")
    wrong = await login(backend.client, "vera", "not the password at all")
    unknown = await login(backend.client, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers


async def test_logout_ends_the_session_on_the_server(
    backend: RunningBackend, database_url: str
) -> None:
    await make_user(database_url, "vera", "viewer")
    token = (await login(backend.client, "vera", PASSWORD, token=True)).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    response = await backend.client.post("/api/auth/logout")
    assert response.status_code == 204
    assert 'hostpulse_session=""' in response.headers["set-cookie"]  # cookie cleared
    assert (await backend.client.get("/api/auth/me")).status_code == 401
    # Cookie and token were one session: replaying the token (a copied cookie) fails too.
    assert (await backend.client.get("/api/auth/me", headers=bearer)).status_code == 401


async def test_an_expired_session_is_refused(backend: RunningBackend, database_url: str) -> None:
    user = await make_user(database_url, "vera", "viewer")
    assert (await login(backend.client, "vera", PASSWORD)).status_code == 200
    assert (await backend.client.get("/api/auth/me")).status_code == 200
    await expire_sessions(database_url, user)
    response = await backend.client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_session_ttl_sets_the_expiry(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    await make_user(database_url, "vera", "viewer")
    settings = service_settings(
        database_url, redis_url, redis_prefix, auth={"session_ttl": "90s", "cookie_secure": True}
    )
    async with serve(settings, log_in=False) as shared, anonymous(shared) as running:
        response = await login(running.client, "vera", PASSWORD)
    cookie = response.headers["set-cookie"].lower()
    assert "max-age=90" in cookie
    assert "secure" in cookie
    conn = await asyncpg.connect(database_url)
    try:
        left = await conn.fetchval(
            "SELECT extract(epoch FROM expires_at - now()) FROM user_sessions"
        )
    finally:
        await conn.close()
    assert 0 < float(left) <= 90


async def test_the_initial_admin_comes_from_settings_with_an_argon2_hash(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    auth = {"initial_admin_user": "root", "initial_admin_password": ADMIN_PASSWORD}
    settings = service_settings(database_url, redis_url, redis_prefix, auth=auth)
    async with serve(settings, log_in=False) as shared, anonymous(shared) as backend:
        response = await login(backend.client, "root", ADMIN_PASSWORD)
        again = await login(backend.client, "root", "not the admin password")
    # A restart with the same settings never overwrites the password.
    async with serve(settings, log_in=False) as shared, anonymous(shared) as backend:
        assert (await login(backend.client, "root", ADMIN_PASSWORD)).status_code == 200
    assert again.status_code == 401
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "admin"
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE name = 'root'")
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$")
    assert ADMIN_PASSWORD not in stored


async def test_users_change_their_own_password_and_must_log_in_again(
    backend: RunningBackend, database_url: str
) -> None:
    await make_user(database_url, "vera", "viewer")
    assert (await login(backend.client, "vera", PASSWORD)).status_code == 200
    change = {"current_password": "not my password", "new_password": "my new long password"}
    wrong = await backend.client.post("/api/auth/password", json=change)
    assert wrong.status_code == 401
    assert "current_password" in wrong.json()["detail"]
    weak = await backend.client.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert weak.status_code == 422
    change["current_password"] = PASSWORD
    assert (await backend.client.post("/api/auth/password", json=change)).status_code == 204
    assert (await backend.client.get("/api/auth/me")).status_code == 401  # sessions ended
    assert (await login(backend.client, "vera", PASSWORD)).status_code == 401
    assert (await login(backend.client, "vera", "my new long password")).status_code == 200
