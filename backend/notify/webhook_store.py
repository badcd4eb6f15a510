"""Webhook receivers in PostgreSQL. Secrets are written once and never read back by the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from backend.notify.outbox import Executor


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    name: str
    url: str
    has_secret: bool
    send_resolved: bool
    enabled: bool
    created_at: datetime


# Constant column lists only: every value goes in as a parameter.
_SELECT = "id, name, url, secret IS NOT NULL AS has_secret, send_resolved, enabled, created_at"


def _webhook(row: asyncpg.Record) -> Webhook:
    return Webhook(
        row["id"],
        row["name"],
        row["url"],
        row["has_secret"],
        row["send_resolved"],
        row["enabled"],
        row["created_at"],
    )


async def create_webhook(
    pool: asyncpg.Pool, name: str, url: str, secret: str | None, send_resolved: bool
) -> Webhook:
    row = await pool.fetchrow(
        "INSERT INTO webhooks (name, url, secret, send_resolved) VALUES ($1, $2, $3, $4) "
        "RETURNING id, name, url, secret IS NOT NULL AS has_secret, send_resolved, enabled, "
        "created_at",
        name,
        url,
        secret,
        send_resolved,
    )
    assert row is not None
    return _webhook(row)


async def list_webhooks(pool: Executor) -> list[Webhook]:
    rows = await pool.fetch(f"SELECT {_SELECT} FROM webhooks ORDER BY id")  # noqa: S608
    return [_webhook(r) for r in rows]


async def update_webhook(
    pool: asyncpg.Pool, webhook_id: int, *, send_resolved: bool | None, enabled: bool | None
) -> Webhook | None:
    row = await pool.fetchrow(
        "UPDATE webhooks SET send_resolved = coalesce($2, send_resolved), "
        "enabled = coalesce($3, enabled) WHERE id = $1 "
        "RETURNING id, name, url, secret IS NOT NULL AS has_secret, send_resolved, enabled, "
        "created_at",
        webhook_id,
        send_resolved,
        enabled,
    )
    return _webhook(row) if row is not None else None


async def delete_webhook(pool: asyncpg.Pool, webhook_id: int) -> bool:
    status: str = await pool.execute("DELETE FROM webhooks WHERE id = $1", webhook_id)
    return status.endswith(" 1")


async def recent_deliveries(
    pool: asyncpg.Pool, webhook_id: int, limit: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT id, transition_id, state, attempts, last_error, created_at, delivered_at "
        "FROM notification_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
        webhook_id,
        limit,
    )
    return rows
