"""Alert transitions in PostgreSQL: written by the evaluator, read by the history API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from backend.alerts.engine import Transition
from backend.storage.postgres import Connection


@dataclass(frozen=True, slots=True)
class StoredTransition:
    id: int
    rule: str
    labels: dict[str, str]
    host: str
    severity: str
    from_state: str
    to_state: str
    value: float | None
    at: datetime
    starts_at: datetime | None
    reason: str
    muted: bool


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    host: str | None = None
    rule: str | None = None
    severity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    before_id: int | None = None  # the cursor: the last id of the previous page


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def insert_transition(
    conn: Connection, transition: Transition, starts_at_ms: int | None, muted: bool
) -> int:
    labels = dict(transition.labels)
    transition_id: int = await conn.fetchval(
        """
        INSERT INTO alert_transitions (rule, labels, host, severity, from_state, to_state, value,
                                       at, starts_at, reason, muted)
        VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id
        """,
        transition.rule,
        orjson.dumps(labels).decode(),
        labels.get("host", ""),
        labels.get("severity", ""),
        transition.from_state.value,
        transition.to_state.value,
        transition.value,
        _moment(transition.time_ms),
        _moment(starts_at_ms) if starts_at_ms is not None else None,
        transition.reason,
        muted,
    )
    return transition_id


async def query_history(pool: asyncpg.Pool, query: HistoryQuery) -> list[StoredTransition]:
    """Newest first; keyset-paginated on id so pages stay stable while new rows arrive."""
    conditions: list[str] = []
    args: list[object] = []
    for column, value in (
        ("host =", query.host),
        ("rule =", query.rule),
        ("severity =", query.severity),
        ("at >=", query.since),
        ("at <", query.until),
        ("id <", query.before_id),
    ):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} ${len(args)}")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    args.append(query.limit)
    rows = await pool.fetch(
        # Only fixed column conditions are interpolated; every value is a parameter.
        f"SELECT * FROM alert_transitions {where} ORDER BY id DESC LIMIT ${len(args)}",  # noqa: S608
        *args,
    )
    return [
        StoredTransition(
            id=row["id"],
            rule=row["rule"],
            labels=orjson.loads(row["labels"]),
            host=row["host"],
            severity=row["severity"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            value=row["value"],
            at=row["at"],
            starts_at=row["starts_at"],
            reason=row["reason"],
            muted=row["muted"],
        )
        for row in rows
    ]
