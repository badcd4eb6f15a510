"""Housekeeping the backend runs periodically: head partitions created ahead of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from backend.storage.sample_merge import WINDOW_US

DEFAULT_WINDOWS_AHEAD = 3
_WINDOW = timedelta(microseconds=WINDOW_US)


async def ensure_partitions(
    pool: asyncpg.Pool, now: datetime, windows_ahead: int = DEFAULT_WINDOWS_AHEAD
) -> list[str]:
    """Create the head partitions of the current 2-hour window (UTC) and `windows_ahead` more;
    returns the new ones' names."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if windows_ahead < 0:
        raise ValueError(f"windows_ahead must be >= 0, got {windows_ahead}")
    created: list[str] = []
    async with pool.acquire() as conn:
        for offset in range(windows_ahead + 1):
            moment = now.astimezone(UTC) + offset * _WINDOW
            if await conn.fetchval("SELECT hostpulse_ensure_head_partition($1)", moment):
                start = moment.replace(minute=0, second=0, microsecond=0)
                start -= timedelta(hours=start.hour % 2)
                created.append(f"samples_h{start:%Y%m%d%H}")
    return created


async def sample_partitions(pool: asyncpg.Pool) -> list[str]:
    """Names of the existing head partitions, oldest first."""
    rows = await pool.fetch(
        """
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'samples'::regclass
        ORDER BY c.relname
        """
    )
    return [row["relname"] for row in rows]
