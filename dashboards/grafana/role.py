"""`hostpulse-grafana role`: lets the read-only role `hostpulse_grafana` (migration 042, created
NOLOGIN without a password) log in with a password read from stdin.

The password is hashed here into a SCRAM-SHA-256 verifier (RFC 5802/7677, PostgreSQL's format), so
neither the command line nor the server's statement log ever holds it in clear."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ROLE = "hostpulse_grafana"
ITERATIONS = 4096  # PostgreSQL's default scram_iterations


class PasswordError(ValueError):
    """A password this command refuses, with what to do instead."""


def check_password(password: str) -> None:
    if len(password) < 16:
        raise PasswordError(
            "the password is shorter than 16 characters: use a generated one, e.g. "
            "`openssl rand -base64 32`"
        )
    if not password.isascii() or not password.isprintable():
        # PostgreSQL normalises non-ASCII passwords with SASLprep, which this command does not
        # reimplement: a verifier made without it would never match.
        raise PasswordError(
            "the password has non-ASCII or control characters: use printable ASCII, e.g. "
            "`openssl rand -base64 32`"
        )


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, what PostgreSQL stores."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


async def grant_login(dsn: str, verifier: str) -> None:
    """ALTER ROLE … LOGIN PASSWORD '<verifier>' on the HostPulse database at `dsn`."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", ROLE):
            raise LookupError(
                f"role {ROLE} does not exist: start the backend once (its migrations create it)"
            )
        statement = await conn.fetchval(
            "SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)", ROLE, verifier
        )
        await conn.execute(statement)
    finally:
        await conn.close()
