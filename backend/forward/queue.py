"""The durable forward queue in PostgreSQL (`forward_queue`, migration 043): append, read in
order, delete, bound. Thin I/O: the SQL and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from backend.forward.encode import EncodedBatch


@dataclass(frozen=True, slots=True)
class QueuedBody:
    id: int
    samples: int
    body: bytes


@dataclass(frozen=True, slots=True)
class QueueState:
    samples: int
    oldest_enqueued: datetime | None


async def append(pool: asyncpg.Pool, rows: Sequence[tuple[str, EncodedBatch]]) -> None:
    """Queue each (target, body) in the order given, in one transaction."""
    await pool.executemany(
        "INSERT INTO forward_queue (target, samples, oldest_ms, body) VALUES ($1, $2, $3, $4)",
        [(target, b.samples, b.oldest_ms, b.body) for target, b in rows],
    )


async def head(pool: asyncpg.Pool, target: str, limit: int) -> list[QueuedBody]:
    """The oldest `limit` bodies queued for `target`, oldest first."""
    rows = await pool.fetch(
        "SELECT id, samples, body FROM forward_queue WHERE target = $1 ORDER BY id LIMIT $2",
        target,
        limit,
    )
    return [QueuedBody(row["id"], row["samples"], bytes(row["body"])) for row in rows]


async def remove(pool: asyncpg.Pool, body_id: int) -> None:
    await pool.execute("DELETE FROM forward_queue WHERE id = $1", body_id)


async def state(pool: asyncpg.Pool, target: str) -> QueueState:
    row = await pool.fetchrow(
        "SELECT coalesce(sum(samples), 0) AS samples, min(enqueued_at) AS oldest"
        " FROM forward_queue WHERE target = $1",
        target,
    )
    assert row is not None  # an aggregate always returns a row
    return QueueState(int(row["samples"]), row["oldest"])


async def trim(pool: asyncpg.Pool, target: str, max_samples: int) -> int:
    """Delete `target`'s oldest bodies until at most `max_samples` stay; the samples deleted."""
    dropped = await pool.fetchval(
        """
        WITH newest_first AS (
            SELECT id, sum(samples) OVER (ORDER BY id DESC) AS kept_with_newer
            FROM forward_queue WHERE target = $1
        ), deleted AS (
            DELETE FROM forward_queue q USING newest_first n
            WHERE q.id = n.id AND n.kept_with_newer > $2
            RETURNING q.samples
        )
        SELECT coalesce(sum(samples), 0) FROM deleted
        """,
        target,
        max_samples,
    )
    return int(dropped)
