"""Retention: raw samples by whole daily partitions, everything else deleted in small batches.

Raw samples: a day's partition is dropped once its whole day is older than `raw_samples`
(so a sample lives at least that long, and less than a day longer). Detaching uses
`DETACH PARTITION … CONCURRENTLY`, which never takes a lock that blocks the writer's inserts.
Rollups, process snapshots, alert history and expired sessions: `DELETE … LIMIT batch_rows`
statements, each its own short transaction, with a pause between batches so ingest keeps the
database. One process at a time runs the job (a PostgreSQL advisory lock); the others skip.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from conventions.settings_sources import Duration

log = logging.getLogger(__name__)

_RETENTION_LOCK_KEY = 0x48505265_74656E74  # "HPRetent"
_DAY = timedelta(days=1)
# Alert history lives in the alerting feature's tables: (table, time column), each skipped while
# it does not exist. Deliveries go first, so deleting transitions leaves fewer rows to update.
_ALERT_HISTORY_TABLES = (
    ("notification_deliveries", "created_at"),
    ("alert_transitions", "at"),
)


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    raw_samples: Duration = 7 * 86400.0
    rollup_1m: Duration = 30 * 86400.0
    rollup_1h: Duration = 365 * 86400.0
    alert_history: Duration = 90 * 86400.0
    process_snapshots: Duration = 7 * 86400.0
    interval: Duration = 3600.0
    batch_rows: int = Field(default=5000, ge=1, le=1_000_000)
    # Pause between delete batches: leaves the database to ingest between them.
    batch_pause: Duration = 0.05


@dataclass(slots=True)
class RetentionReport:
    dropped_partitions: list[str] = field(default_factory=list)
    deleted_rows: dict[str, int] = field(default_factory=dict)
    skipped: bool = False  # another process held the lock


def partitions_to_drop(partitions: list[str], now: datetime, keep_seconds: float) -> list[str]:
    """The `samples_pYYYYMMDD` partitions whose whole day ends at or before now - keep_seconds."""
    cutoff = now - timedelta(seconds=keep_seconds)
    doomed = []
    for name in partitions:
        day = partition_day(name)
        if day is None:
            continue
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + _DAY
        if day_end <= cutoff:
            doomed.append(name)
    return doomed


def partition_day(name: str) -> date | None:
    if not name.startswith("samples_p") or len(name) != len("samples_p") + 8:
        return None
    try:
        parsed = datetime.strptime(name.removeprefix("samples_p"), "%Y%m%d")
    except ValueError:
        return None
    return parsed.date()


async def enforce_retention(
    pool: asyncpg.Pool, settings: RetentionSettings, now: datetime | None = None
) -> RetentionReport:
    """One retention pass (returns what it removed); skipped if another process is running one."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    report = RetentionReport()
    async with pool.acquire() as lock_conn:
        if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", _RETENTION_LOCK_KEY):
            report.skipped = True
            return report
        try:
            report.dropped_partitions = await _drop_old_partitions(pool, now, settings.raw_samples)
            deletions = [
                ("rollup_1m", "bucket", settings.rollup_1m),
                ("rollup_1h", "bucket", settings.rollup_1h),
                ("process_snapshots", "time", settings.process_snapshots),
            ]
            for table, column in _ALERT_HISTORY_TABLES:
                if await _has_time_column(pool, table, column):
                    deletions.append((table, column, settings.alert_history))
            for table, column, keep in deletions:
                cutoff = now - timedelta(seconds=keep)
                report.deleted_rows[table] = await delete_older_than(
                    pool, table, column, cutoff, settings.batch_rows, settings.batch_pause
                )
            report.deleted_rows["user_sessions"] = await delete_older_than(
                pool, "user_sessions", "expires_at", now, settings.batch_rows, settings.batch_pause
            )
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock($1)", _RETENTION_LOCK_KEY)
    return report


async def _drop_old_partitions(pool: asyncpg.Pool, now: datetime, keep: float) -> list[str]:
    rows = await pool.fetch(
        "SELECT c.relname, i.inhdetachpending FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'samples'::regclass ORDER BY c.relname"
    )
    pending = {row["relname"] for row in rows if row["inhdetachpending"]}
    dropped = []
    for name in partitions_to_drop([row["relname"] for row in rows], now, keep):
        async with pool.acquire() as conn:
            # A detach interrupted earlier (process killed) is finished, not restarted.
            how = "FINALIZE" if name in pending else "CONCURRENTLY"
            await conn.execute(f'ALTER TABLE samples DETACH PARTITION "{name}" {how}')
            await conn.execute(f'DROP TABLE IF EXISTS "{name}"')
        dropped.append(name)
    return dropped


async def delete_older_than(
    pool: asyncpg.Pool,
    table: str,
    column: str,
    cutoff: datetime,
    batch_rows: int,
    pause: float = 0.0,
) -> int:
    """Delete rows with `column < cutoff`, `batch_rows` per transaction; returns how many."""
    # Identifiers come from this module, never from users; quoted anyway.
    statement = (
        f'DELETE FROM "{table}" WHERE ctid = ANY(ARRAY('  # noqa: S608
        f'SELECT ctid FROM "{table}" WHERE "{column}" < $1 LIMIT $2))'
    )
    total = 0
    while True:
        status = await pool.execute(statement, cutoff, batch_rows)
        deleted = int(status.rsplit(" ", 1)[-1])
        total += deleted
        if deleted < batch_rows:
            return total
        await asyncio.sleep(pause)


async def _has_time_column(pool: asyncpg.Pool, table: str, column: str) -> bool:
    """True when `table` exists with a timestamptz `column` (the alerting tables are optional)."""
    found = await pool.fetchval(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2 "
        "AND data_type = 'timestamp with time zone'",
        table,
        column,
    )
    return bool(found)


async def enforce_retention_forever(pool: asyncpg.Pool, settings: RetentionSettings) -> None:
    """`enforce_retention` now and every `settings.interval` seconds, until cancelled."""
    while True:
        try:
            report = await enforce_retention(pool, settings)
            if report.dropped_partitions or any(report.deleted_rows.values()):
                log.info(
                    "retention dropped %s, deleted %s",
                    report.dropped_partitions or "no partitions",
                    report.deleted_rows,
                )
        except Exception:  # keep the job alive; the next run retries
            log.exception("retention failed")
        await asyncio.sleep(settings.interval)
