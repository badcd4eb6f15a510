"""Alert rules in PostgreSQL: CRUD for the API, seeding from the defaults and a rules file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
import orjson

from backend.alerts.rule_spec import RuleSpec
from backend.alerts.rules import AlertRule

Source = Literal["api", "defaults", "file"]

# Constant column lists: only these are interpolated into SQL, every value is a parameter.
_COLUMNS = (
    "name, kind, metric, matchers, op, threshold, for_seconds, resolve_threshold, "
    "keep_firing_for_seconds, labels, annotations, enabled, source"
)
_VALUES = "$1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12, $13"


class DuplicateRuleName(Exception):
    """Another rule already has this name."""


@dataclass(frozen=True, slots=True)
class StoredRule:
    id: int
    spec: RuleSpec
    source: Source
    created_at: datetime
    updated_at: datetime


def _args(spec: RuleSpec, source: Source) -> list[Any]:
    rule = spec.to_rule()
    return [
        rule.name,
        rule.kind.value,
        rule.metric,
        orjson.dumps(dict(rule.matchers)).decode(),
        rule.op,
        rule.threshold,
        rule.for_seconds,
        rule.resolve_threshold,
        rule.keep_firing_for_seconds,
        orjson.dumps(dict(rule.labels)).decode(),
        orjson.dumps(dict(rule.annotations)).decode(),
        rule.enabled,
        source,
    ]


def _stored(row: asyncpg.Record) -> StoredRule:
    spec = RuleSpec.model_validate(
        {
            "name": row["name"],
            "kind": row["kind"],
            "metric": row["metric"],
            "matchers": orjson.loads(row["matchers"]),
            "op": row["op"],
            "threshold": row["threshold"],
            "for": row["for_seconds"],
            "resolve_threshold": row["resolve_threshold"],
            "keep_firing_for": row["keep_firing_for_seconds"],
            "labels": orjson.loads(row["labels"]),
            "annotations": orjson.loads(row["annotations"]),
            "enabled": row["enabled"],
        }
    )
    return StoredRule(row["id"], spec, row["source"], row["created_at"], row["updated_at"])


async def seed_rules(
    pool: asyncpg.Pool, specs: list[RuleSpec], source: Source, *, overwrite: bool
) -> None:
    """Insert rules by name; `overwrite` replaces existing ones (a rules file is authoritative,
    while shipped defaults never undo an admin's edit or disable)."""
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS.split(", ")[1:])
    conflict = f"DO UPDATE SET {updates}, updated_at = now()" if overwrite else "DO NOTHING"
    sql = f"INSERT INTO alert_rules ({_COLUMNS}) VALUES ({_VALUES}) ON CONFLICT (name) {conflict}"  # noqa: S608
    async with pool.acquire() as conn, conn.transaction():
        for spec in specs:
            await conn.execute(sql, *_args(spec, source))


async def list_rules(pool: asyncpg.Pool) -> list[StoredRule]:
    rows = await pool.fetch("SELECT * FROM alert_rules ORDER BY id")
    return [_stored(row) for row in rows]


async def active_rules(pool: asyncpg.Pool) -> list[AlertRule]:
    """Every rule (enabled or not: the engine skips disabled ones and retires their alerts)."""
    return [stored.spec.to_rule() for stored in await list_rules(pool)]


async def get_rule(pool: asyncpg.Pool, rule_id: int) -> StoredRule | None:
    row = await pool.fetchrow("SELECT * FROM alert_rules WHERE id = $1", rule_id)
    return _stored(row) if row is not None else None


async def create_rule(pool: asyncpg.Pool, spec: RuleSpec) -> StoredRule:
    try:
        row = await pool.fetchrow(
            f"INSERT INTO alert_rules ({_COLUMNS}) VALUES ({_VALUES}) RETURNING *",  # noqa: S608
            *_args(spec, "api"),
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateRuleName(spec.name) from None
    assert row is not None
    return _stored(row)


async def replace_rule(pool: asyncpg.Pool, rule_id: int, spec: RuleSpec) -> StoredRule | None:
    assignments = ", ".join(
        f"{column} = ${i}{'::jsonb' if column in ('matchers', 'labels', 'annotations') else ''}"
        for i, column in enumerate(_COLUMNS.split(", ")[:-1], start=1)
    )
    try:
        row = await pool.fetchrow(
            f"UPDATE alert_rules SET {assignments}, updated_at = now() WHERE id = $13 RETURNING *",  # noqa: S608
            *_args(spec, "api")[:-1],
            rule_id,
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateRuleName(spec.name) from None
    return _stored(row) if row is not None else None


async def set_enabled(pool: asyncpg.Pool, rule_id: int, enabled: bool) -> StoredRule | None:
    row = await pool.fetchrow(
        "UPDATE alert_rules SET enabled = $2, updated_at = now() WHERE id = $1 RETURNING *",
        rule_id,
        enabled,
    )
    return _stored(row) if row is not None else None


async def delete_rule(pool: asyncpg.Pool, rule_id: int) -> bool:
    status: str = await pool.execute("DELETE FROM alert_rules WHERE id = $1", rule_id)
    return status.endswith(" 1")
