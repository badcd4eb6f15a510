"""Users and sessions made straight in the database, for tests that need a logged-in caller."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import httpx

from backend.auth.sessions import create_session
from backend.users.model import User
from backend.users.store import UserExistsError, create_user, find_user
from tests.backend.running import RunningBackend

PASSWORD = "correct horse battery staple"


async def make_user(database_url: str, name: str, role: str) -> User:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        return await create_user(pool, name, PASSWORD, role)
    finally:
        await pool.close()


async def session_for(database_url: str, user: User, ttl_seconds: float = 3600.0) -> str:
    """A fresh session token for `user` (skips the password check and the login rate limit)."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        return (await create_session(pool, user, ttl_seconds)).token
    finally:
        await pool.close()


async def expire_sessions(database_url: str, user: User) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE user_sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1",
            user.id,
        )
    finally:
        await conn.close()


async def log_in(client: httpx.AsyncClient, name: str, password: str) -> dict[str, str]:
    """Log `client` in (it keeps the cookie); returns the Cookie header for WebSocket clients."""
    response = await client.post("/api/auth/login", json={"username": name, "password": password})
    response.raise_for_status()
    cookie = response.cookies.get("hostpulse_session")
    return {"Cookie": f"hostpulse_session={cookie}"}


async def ensure_session(database_url: str, name: str = "test-admin", role: str = "admin") -> str:
    """A fresh session token for `name`, creating the user first if needed. For tests whose
    subject is not auth: `client.cookies.set("hostpulse_session", token)`, and
    `{"Cookie": f"hostpulse_session={token}"}` as WebSocket headers."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        user = await find_user(pool, name)
        if user is None:
            try:
                user = await create_user(pool, name, PASSWORD, role)
            except UserExistsError:  # created concurrently
                user = await find_user(pool, name)
        assert user is not None
        return (await create_session(pool, user, 3600.0)).token
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def anonymous(backend: RunningBackend) -> AsyncIterator[RunningBackend]:
    """The same backend with a client of its own that holds no cookies (whatever the shared
    service client may be logged in as)."""
    async with httpx.AsyncClient(base_url=backend.base_url, timeout=10) as client:
        yield dataclasses.replace(backend, client=client)
