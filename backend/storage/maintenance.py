"""Housekeeping the backend runs periodically: daily sample partitions created ahead of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

DEFAULT_DAYS_AHEAD = 2


async def ensure_partitions(
    pool: asyncpg.Pool, now: datetime, days_ahead: int = DEFAULT_DAYS_AHEAD
) -> list[str]:
    """Create samples partitions for today (UTC) and `days_ahead` more days; returns new ones."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if days_ahead < 0:
        raise ValueError(f"days_ahead must be >= 0, got {days_ahead}")
    today = now.astimezone(UTC).date()
    created: list[str] = []
    async with pool.acquire() as conn:
        for offset in range(days_ahead + 1):
            day = today + timedelta(days=offset)
            if await conn.fetchval("SELECT hostpulse_ensure_samples_partition($1)", day):
                created.append(f"samples_p{day:%Y%m%d}")
    return created


async def sample_partitions(pool: asyncpg.Pool) -> list[str]:
    """Names of the existing samples partitions, oldest first (what retention will drop)."""
    rows = await pool.fetch(
        """
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'samples'::regclass
        ORDER BY c.relname
        """
    )
    return [row["relname"] for row in rows]
