"""Agent tokens: creation, listing, revocation, and the verifier every ingest path asks
(through `backend.api.deps.require_agent_token`).

Tokens are `hp_` + `secrets.token_urlsafe(32)` (256 random bits) and only their SHA-256 is stored:
argon2/bcrypt protect low-entropy passwords from guessing, which a 256-bit secret doesn't need,
and a fast hash keeps the per-request check cheap. Verdicts are cached in-process for
`TOKEN_CACHE_SECONDS` (5 s), so a revocation takes effect on every backend process within 5 s.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg

TOKEN_PREFIX = "hp_"  # noqa: S105 - a recognisable prefix, not a secret
TOKEN_CACHE_SECONDS = 5.0
_CACHE_MAX_ENTRIES = 10_000  # invalid tokens are cached too; a flood of them can't grow memory
BOOTSTRAP_TOKEN_ID = 0  # the id reported for `settings.bootstrap_agent_token`


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def create_token(pool: asyncpg.Pool, name: str) -> tuple[int, str]:
    """(id, plaintext token); the plaintext is never stored, show it to the user once."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise ValueError("token name must be 1 to 200 characters")
    token = new_token()
    token_id = await pool.fetchval(
        "INSERT INTO agent_tokens (name, token_hash) VALUES ($1, $2) RETURNING id",
        name,
        hash_token(token),
    )
    return int(token_id), token


async def list_tokens(pool: asyncpg.Pool) -> list[TokenInfo]:
    rows = await pool.fetch(
        "SELECT id, name, created_at, revoked_at, last_used_at FROM agent_tokens ORDER BY id"
    )
    return [TokenInfo(**dict(row)) for row in rows]


async def is_active(pool: asyncpg.Pool, token: str) -> bool:
    """True when `token` is a known token that has not been revoked (marks nothing as used)."""
    found = await pool.fetchval(
        "SELECT 1 FROM agent_tokens WHERE token_hash = $1 AND revoked_at IS NULL", hash_token(token)
    )
    return found is not None


async def revoke_token(pool: asyncpg.Pool, token_id: int) -> bool:
    """True when the token existed and was active; it is refused within TOKEN_CACHE_SECONDS."""
    status = await pool.execute(
        "UPDATE agent_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        token_id,
    )
    return bool(status.endswith(" 1"))


class AgentTokenVerifier:
    """Checks bearer tokens against the table (and the bootstrap token), with a short cache."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_token: str | None = None,
        *,
        cache_seconds: float = TOKEN_CACHE_SECONDS,
    ) -> None:
        self._pool = pool
        self._bootstrap_hash = hash_token(bootstrap_token) if bootstrap_token else None
        self._cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[int | None, float]] = {}

    async def verify(self, token: str) -> int | None:
        """The token's id when valid and not revoked, else None."""
        digest = hash_token(token)
        # Constant-time: the bootstrap secret must not leak through comparison timing.
        if self._bootstrap_hash is not None and hmac.compare_digest(digest, self._bootstrap_hash):
            return BOOTSTRAP_TOKEN_ID
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        token_id = await self._lookup(digest)
        if len(self._cache) >= _CACHE_MAX_ENTRIES:
            self._cache.clear()
        self._cache[digest] = (token_id, now + self._cache_seconds)
        return token_id

    async def _lookup(self, digest: bytes) -> int | None:
        # Marks the token used in the same round trip; runs at most once per cache period.
        row = await self._pool.fetchrow(
            "UPDATE agent_tokens SET last_used_at = now() "
            "WHERE token_hash = $1 AND revoked_at IS NULL RETURNING id, token_hash",
            digest,
        )
        if row is None or not hmac.compare_digest(bytes(row["token_hash"]), digest):
            return None
        return int(row["id"])
