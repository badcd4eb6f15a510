"""Retention: raw samples by whole partitions, everything else deleted in small batches.

Raw samples: a day's partition of sealed chunks is dropped once its whole day is older than
`raw_samples` (so a sample lives at least that long, and less than a day longer); so are head
windows and legacy days that old (the sealing job normally took them long before) and late rows.
Detaching uses `DETACH PARTITION … CONCURRENTLY`, which never takes a lock that blocks the
writer's inserts or a read.
Rollups, process snapshots, alert history and expired sessions: `DELETE … LIMIT batch_rows`
statements, each its own short transaction, with a pause between batches so ingest keeps the
database. One process at a time runs the job (a PostgreSQL advisory lock); the others skip.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from backend.storage.postgres import stop_if_cancelled
from backend.storage.sealing import partition_range
from conventions.settings_sources import Duration

log = logging.getLogger(__name__)

_RETENTION_LOCK_KEY = 0x48505265_74656E74  # "HPRetent"
_DAY = timedelta(days=1)
_CHUNK_PREFIX = "sample_chunks_p"
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
    """The raw-sample partitions (sealed chunk days `sample_chunks_pYYYYMMDD`, head windows
    `samples_hYYYYMMDDHH`, legacy days `samples_pYYYYMMDD`) that end at or before now - keep."""
    cutoff = now - timedelta(seconds=keep_seconds)
    doomed = []
    for name in partitions:
        bounds = raw_partition_range(name)
        if bounds is not None and bounds[1] <= cutoff:
            doomed.append(name)
    return doomed


def raw_partition_range(name: str) -> tuple[datetime, datetime] | None:
    if name.startswith(_CHUNK_PREFIX):
        try:
            day = datetime.strptime(name.removeprefix(_CHUNK_PREFIX), "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            return None
        return day, day + _DAY
    return partition_range(name)


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
                ("samples_late", "time", settings.raw_samples),
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
        "SELECT p.relname AS parent, c.relname, i.inhdetachpending FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname IN ('sample_chunks', 'samples', 'samples_legacy') "
        "AND p.relnamespace = current_schema()::regnamespace ORDER BY c.relname"
    )
    parents = {row["relname"]: row["parent"] for row in rows}
    pending = {row["relname"] for row in rows if row["inhdetachpending"]}
    dropped = []
    for name in partitions_to_drop(sorted(parents), now, keep):
        async with pool.acquire() as conn:
            # A detach interrupted earlier (process killed) is finished, not restarted.
            how = "FINALIZE" if name in pending else "CONCURRENTLY"
            await conn.execute(f'ALTER TABLE "{parents[name]}" DETACH PARTITION "{name}" {how}')
            async with conn.transaction():
                await conn.execute(f'DROP TABLE IF EXISTS "{name}"')
                await conn.execute("DELETE FROM sealing_progress WHERE relname = $1", name)
                if name.startswith(_CHUNK_PREFIX):
                    bounds = raw_partition_range(name)
                    assert bounds is not None  # partitions_to_drop only names parsed ones
                    await conn.execute(
                        "DELETE FROM sealed_day_stats WHERE day = $1", bounds[0].date()
                    )
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
            stop_if_cancelled()
            log.exception("retention failed")
        await asyncio.sleep(settings.interval)
