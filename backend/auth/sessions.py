"""Login sessions: random tokens whose SHA-256 alone is stored in PostgreSQL, with an expiry.

Like agent tokens, a session token carries 256 random bits, so a fast hash is enough and keeps the
per-request check to one indexed lookup. A stolen database yields no usable session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from backend.users.model import User

SESSION_PREFIX = "hps_"  # distinguishes a session from an agent token (hp_) in a bearer header


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # plaintext: given to the client once, never stored
    user: User
    expires_at: datetime


def hash_session_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def looks_like_session_token(token: str) -> bool:
    return token.startswith(SESSION_PREFIX)


async def create_session(pool: asyncpg.Pool, user: User, ttl_seconds: float) -> Session:
    if ttl_seconds <= 0:
        raise ValueError(f"session ttl must be > 0 seconds, got {ttl_seconds}")
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    expires_at = await pool.fetchval(
        "INSERT INTO user_sessions (token_hash, user_id, expires_at) "
        "VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING expires_at",
        hash_session_token(token),
        user.id,
        float(ttl_seconds),
    )
    return Session(token=token, user=user, expires_at=expires_at)


async def user_for_session(pool: asyncpg.Pool, token: str) -> User | None:
    """The session's user while the session exists and has not expired, else None."""
    if not looks_like_session_token(token):
        return None
    row = await pool.fetchrow(
        "SELECT u.id, u.name, u.role, u.created_at FROM user_sessions s "
        "JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = $1 AND s.expires_at > now()",
        hash_session_token(token),
    )
    if row is None:
        return None
    return User(id=row["id"], name=row["name"], role=row["role"], created_at=row["created_at"])


async def end_session(pool: asyncpg.Pool, token: str) -> bool:
    """Logout: True when the session existed."""
    status = await pool.execute(
        "DELETE FROM user_sessions WHERE token_hash = $1", hash_session_token(token)
    )
    return bool(status.endswith(" 1"))


async def end_user_sessions(pool: asyncpg.Pool, user_id: int) -> int:
    """Every session of a user (password change, role change, deletion); returns how many."""
    status = await pool.execute("DELETE FROM user_sessions WHERE user_id = $1", user_id)
    return int(status.rsplit(" ", 1)[-1])
