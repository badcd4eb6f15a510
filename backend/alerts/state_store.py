"""The engine's per-alert state in PostgreSQL, so a newly elected evaluator carries on."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
import orjson

from backend.alerts.engine import Alert, AlertKey, AlertState
from backend.notify.outbox import Executor

_UPSERT = """
INSERT INTO alert_state (rule, labels, state, active_since_ms, fired_at_ms, last_value,
                         last_seen_ms, last_breach_ms)
SELECT * FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::bigint[], $5::bigint[],
                     $6::double precision[], $7::bigint[], $8::bigint[])
ON CONFLICT (rule, labels_hash) DO UPDATE SET
    state = EXCLUDED.state, active_since_ms = EXCLUDED.active_since_ms,
    fired_at_ms = EXCLUDED.fired_at_ms, last_value = EXCLUDED.last_value,
    last_seen_ms = EXCLUDED.last_seen_ms, last_breach_ms = EXCLUDED.last_breach_ms
"""


def _alert(row: asyncpg.Record) -> Alert:
    labels = orjson.loads(row["labels"])
    return Alert(
        rule=row["rule"],
        labels=tuple(sorted(labels.items())),
        state=AlertState(row["state"]),
        active_since_ms=row["active_since_ms"],
        fired_at_ms=row["fired_at_ms"],
        last_value=row["last_value"],
        last_seen_ms=row["last_seen_ms"],
        last_breach_ms=row["last_breach_ms"],
    )


async def load_alerts(pool: asyncpg.Pool) -> dict[AlertKey, Alert]:
    rows = await pool.fetch("SELECT * FROM alert_state")
    alerts = (_alert(row) for row in rows)
    return {(a.rule, a.labels): a for a in alerts}


async def save_alerts(conn: Executor, alerts: Iterable[Alert]) -> None:
    """Upsert these alerts' state in one statement."""
    batch = list(alerts)
    if not batch:
        return
    await conn.execute(
        _UPSERT,
        [a.rule for a in batch],
        [orjson.dumps(dict(a.labels)).decode() for a in batch],
        [a.state.value for a in batch],
        [a.active_since_ms for a in batch],
        [a.fired_at_ms for a in batch],
        [a.last_value for a in batch],
        [a.last_seen_ms for a in batch],
        [a.last_breach_ms for a in batch],
    )


async def delete_alerts_of_missing_rules(pool: asyncpg.Pool) -> None:
    await pool.execute("DELETE FROM alert_state WHERE rule NOT IN (SELECT name FROM alert_rules)")


async def current_alerts(pool: asyncpg.Pool) -> list[Alert]:
    """Pending and firing alerts, as last saved by the evaluating process."""
    rows = await pool.fetch(
        "SELECT * FROM alert_state WHERE state <> 'inactive' ORDER BY rule, labels::text"
    )
    return [_alert(row) for row in rows]
