"""Mutes: no notifications for a host, or for one rule on a host, until a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class Mute:
    id: int
    host: str
    rule: str | None  # None: every rule on the host
    until: datetime
    comment: str


def is_muted(mutes: Sequence[Mute], rule: str, labels: Mapping[str, str], now: datetime) -> bool:
    host = labels.get("host", "")
    return any(
        m.until > now and m.host == host and (m.rule is None or m.rule == rule) for m in mutes
    )


def _mute(row: asyncpg.Record) -> Mute:
    return Mute(row["id"], row["host"], row["rule"], row["until"], row["comment"])


async def active_mutes(pool: asyncpg.Pool) -> list[Mute]:
    rows = await pool.fetch("SELECT * FROM alert_mutes WHERE until > now() ORDER BY id")
    return [_mute(row) for row in rows]


async def add_mute(
    pool: asyncpg.Pool, host: str, rule: str | None, until: datetime, comment: str
) -> Mute:
    row = await pool.fetchrow(
        "INSERT INTO alert_mutes (host, rule, until, comment) VALUES ($1, $2, $3, $4) RETURNING *",
        host,
        rule,
        until,
        comment,
    )
    assert row is not None
    return _mute(row)


async def delete_mute(pool: asyncpg.Pool, mute_id: int) -> bool:
    status: str = await pool.execute("DELETE FROM alert_mutes WHERE id = $1", mute_id)
    return status.endswith(" 1")
