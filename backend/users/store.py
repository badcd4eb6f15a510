"""User accounts in PostgreSQL: create, authenticate, list, change, delete."""

from __future__ import annotations

import re

import asyncpg

from backend.auth.passwords import hash_password, verify_password
from backend.auth.sessions import end_user_sessions
from backend.storage.postgres import Connection
from backend.users.model import ROLES, Role, User

_NAME = re.compile(r"^[A-Za-z0-9._@\-]{1,100}$")
_COLUMNS = "id, name, role, created_at"


class UserExistsError(ValueError):
    pass


class LastAdminError(ValueError):
    """Deleting or demoting the last admin would lock everyone out of administration."""


def check_user_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError("user name must be 1-100 letters, digits, '.', '_', '@' or '-'")
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role  # type: ignore[return-value]  # checked against ROLES just above


def _user(row: asyncpg.Record) -> User:
    return User(id=row["id"], name=row["name"], role=row["role"], created_at=row["created_at"])


async def create_user(pool: asyncpg.Pool, name: str, password: str, role: str) -> User:
    """A new user; ValueError (or PasswordPolicyError) on bad input, UserExistsError on a clash."""
    check_user_name(name)
    checked_role = check_role(role)
    password_hash = await hash_password(password)
    try:
        row = await pool.fetchrow(
            f"INSERT INTO users (name, role, password_hash) VALUES ($1, $2, $3) "  # noqa: S608
            f"RETURNING {_COLUMNS}",
            name,
            checked_role,
            password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise UserExistsError(f"a user named {name!r} already exists") from None
    assert row is not None
    return _user(row)


async def authenticate(pool: asyncpg.Pool, name: str, password: str) -> User | None:
    """The user when name and password match, else None (same cost either way)."""
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS}, password_hash FROM users WHERE name = $1",  # noqa: S608
        name,
    )
    matches, needs_rehash = await verify_password(row["password_hash"] if row else None, password)
    if row is None or not matches:
        return None
    if needs_rehash:  # parameters were raised since this hash was made
        await pool.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            row["id"],
            await hash_password(password),
        )
    return _user(row)


async def has_users(pool: asyncpg.Pool) -> bool:
    """True once any account exists (the first start creates the admin)."""
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM users)"))


async def find_user(pool: asyncpg.Pool, name: str) -> User | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE name = $1", name)  # noqa: S608
    return _user(row) if row else None


async def list_users(pool: asyncpg.Pool) -> list[User]:
    rows = await pool.fetch(f"SELECT {_COLUMNS} FROM users ORDER BY id")  # noqa: S608
    return [_user(row) for row in rows]


async def update_user(
    pool: asyncpg.Pool, user_id: int, *, role: str | None = None, password: str | None = None
) -> User | None:
    """Change role and/or password (ending the user's sessions); None when no such user."""
    new_role = check_role(role) if role is not None else None
    new_hash = await hash_password(password) if password is not None else None
    async with pool.acquire() as conn, conn.transaction():
        # Serialises admin changes so two demotions can't both pass the last-admin check.
        await conn.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)  # noqa: S608
        if row is None:
            return None
        if new_role == "viewer" and row["role"] == "admin":
            await _refuse_last_admin(conn)
        row = await conn.fetchrow(
            "UPDATE users SET role = coalesce($2, role), "  # noqa: S608 - constant columns
            f"password_hash = coalesce($3, password_hash) WHERE id = $1 RETURNING {_COLUMNS}",
            user_id,
            new_role,
            new_hash,
        )
    await end_user_sessions(pool, user_id)
    assert row is not None
    return _user(row)


async def delete_user(pool: asyncpg.Pool, user_id: int) -> bool:
    """True when the user existed; their sessions go with them (ON DELETE CASCADE)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        role = await conn.fetchval("SELECT role FROM users WHERE id = $1", user_id)
        if role is None:
            return False
        if role == "admin":
            await _refuse_last_admin(conn)
        await conn.execute("DELETE FROM users WHERE id = $1", user_id)
    return True


async def _refuse_last_admin(conn: Connection) -> None:
    admins = await conn.fetchval("SELECT count(*) FROM users WHERE role = 'admin'")
    if admins <= 1:
        raise LastAdminError("this is the last admin; make another admin first")
