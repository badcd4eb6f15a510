"""The delivery outbox in PostgreSQL: rows enqueued with a transition, claimed by one process at a
time (FOR UPDATE SKIP LOCKED + a claim deadline), every attempt and outcome recorded.

Each target gets its deliveries strictly in order (only its oldest pending one is ever due): a
"resolved" never overtakes its "firing", even across retries, which Alertmanager's last-write-wins
merge and many webhook receivers rely on. A receiver that is down holds up only its own queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import asyncpg
import orjson

from backend.storage.postgres import Connection

Executor: TypeAlias = "Connection | asyncpg.Pool"

TargetKind = Literal["webhook", "alertmanager"]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    target_kind: TargetKind
    target_url: str
    webhook_id: int | None
    secret: str | None
    body: bytes  # sent exactly as stored (the signature covers these bytes)
    attempts: int  # including the one now claimed
    age_seconds: float


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


async def enqueue(
    conn: Executor,
    kind: TargetKind,
    url: str,
    body: Any,
    *,
    webhook_id: int | None = None,
    transition_id: int | None = None,
) -> int:
    delivery_id: int = await conn.fetchval(
        """
        INSERT INTO notification_deliveries (target_kind, target_url, webhook_id, transition_id,
                                             body)
        VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id
        """,
        kind,
        url,
        webhook_id,
        transition_id,
        orjson.dumps(body).decode(),
    )
    return delivery_id


async def claim_due(pool: asyncpg.Pool, limit: int, claim_seconds: float) -> list[Delivery]:
    """Take up to `limit` due deliveries for this process; another process sees them again only
    if this one has not recorded an outcome within `claim_seconds` (it died mid-send)."""
    rows = await pool.fetch(
        """
        WITH claimed AS (
            UPDATE notification_deliveries d
            SET attempts = d.attempts + 1,
                next_attempt_at = now() + make_interval(secs => $2)
            FROM (SELECT id FROM notification_deliveries n
                  WHERE state = 'pending' AND next_attempt_at <= now()
                    AND NOT EXISTS (SELECT 1 FROM notification_deliveries older
                                    WHERE older.state = 'pending'
                                      AND older.target_url = n.target_url
                                      AND older.id < n.id)
                  ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) due
            WHERE d.id = due.id
            RETURNING d.id, d.target_kind, d.target_url, d.webhook_id, d.body::text AS body,
                      d.attempts, extract(epoch FROM now() - d.created_at) AS age
        )
        SELECT claimed.*, w.secret FROM claimed LEFT JOIN webhooks w ON w.id = claimed.webhook_id
        ORDER BY claimed.id
        """,
        limit,
        claim_seconds,
    )
    return [
        Delivery(
            id=row["id"],
            target_kind=row["target_kind"],
            target_url=row["target_url"],
            webhook_id=row["webhook_id"],
            secret=row["secret"],
            body=row["body"].encode(),
            attempts=row["attempts"],
            age_seconds=float(row["age"]),
        )
        for row in rows
    ]


async def record(
    pool: asyncpg.Pool, delivery: Delivery, outcome: Outcome, retry_in: float | None
) -> None:
    """Log the attempt; then delivered, retried after `retry_in` seconds, or failed (None)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO notification_attempts (delivery_id, ok, status_code, error, duration_ms)
            VALUES ($1, $2, $3, $4, $5)
            """,
            delivery.id,
            outcome.ok,
            outcome.status_code,
            outcome.error,
            outcome.duration_ms,
        )
        if outcome.ok:
            await conn.execute(
                "UPDATE notification_deliveries SET state = 'delivered', delivered_at = now(), "
                "last_error = NULL WHERE id = $1",
                delivery.id,
            )
        elif retry_in is None:
            await conn.execute(
                "UPDATE notification_deliveries SET state = 'failed', last_error = $2 "
                "WHERE id = $1",
                delivery.id,
                outcome.error,
            )
        else:
            await conn.execute(
                "UPDATE notification_deliveries SET last_error = $2, "
                "next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                delivery.id,
                outcome.error,
                retry_in,
            )
