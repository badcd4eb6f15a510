"""Reading raw history as one series per (series, time), whichever place each sample is in.

Above the merge horizon (max(frontier, legacy_until)) only the head holds samples and a reader
may aggregate in SQL. Below it a sample may be in the head, samples_late, samples_legacy and a
sealed chunk at once (the sealing job copies before it deletes), so readers merge all of them
(`sample_merge.merge`). They do it in one REPEATABLE READ snapshot taken after locking the
parents: a partition the sealing job detaches is waited for, and a move from samples_late into a
chunk (one transaction) is seen before or after, never half.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from backend.storage.chunk_store import copy_rows, datetime_to_us, fetch_chunks, us_to_datetime
from backend.storage.postgres import Connection
from backend.storage.sample_merge import Merged, Rows, concat_rows, merge

_ROWS = "SELECT series_id, time, value FROM {table} "
_SOME = "WHERE series_id = ANY($1::bigint[]) AND time >= $2 AND time < $3"
_ALL = "WHERE time >= $1 AND time < $2"


@dataclass(frozen=True, slots=True)
class Horizon:
    frontier_us: int  # nothing older than this enters the head
    merge_before_us: int  # below this, samples may be in several places
    legacy: bool  # samples_legacy still exists (and is locked for this snapshot)


@asynccontextmanager
async def history_snapshot(conn: Connection) -> AsyncIterator[Horizon]:
    """A read-only REPEATABLE READ transaction in which every raw source is stable."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(
            "LOCK TABLE ONLY samples, samples_late, sample_chunks IN ACCESS SHARE MODE"
        )
        yield await read_horizon(conn)


async def read_horizon(conn: Connection) -> Horizon:
    row = await conn.fetchrow(
        "SELECT frontier, greatest(frontier, legacy_until) AS merge_before, "
        "hostpulse_lock_legacy() AS legacy FROM sealing_state"
    )
    if row is None:
        raise RuntimeError("sealing_state is empty: migration 041 did not run")
    return Horizon(
        datetime_to_us(row["frontier"]), datetime_to_us(row["merge_before"]), row["legacy"]
    )


async def row_form(
    conn: Connection, horizon: Horizon, series_ids: Sequence[int] | None, start_us: int, end_us: int
) -> Rows:
    """Row-form samples (head, late, legacy) in [start, end), of `series_ids` or every series."""
    tables = ["samples"]
    if start_us < horizon.frontier_us:
        tables.append("samples_late")
    if horizon.legacy and start_us < horizon.merge_before_us:
        tables.append("samples_legacy")
    bounds = (us_to_datetime(start_us), us_to_datetime(end_us))
    args = bounds if series_ids is None else (list(series_ids), *bounds)
    where = _ALL if series_ids is None else _SOME
    return concat_rows(
        [await copy_rows(conn, _ROWS.format(table=table) + where, *args) for table in tables]
    )


async def read_merged(
    conn: Connection, horizon: Horizon, series_ids: Sequence[int] | None, start_us: int, end_us: int
) -> Merged:
    """Every sample in [start, end), one per (series, time), sorted by series and time.

    Call it inside `history_snapshot`. Chunks are read only below the merge horizon.
    """
    rows = await row_form(conn, horizon, series_ids, start_us, end_us)
    if start_us < horizon.merge_before_us:
        until_us = min(end_us, horizon.merge_before_us)
        sealed = await fetch_chunks(conn, series_ids, start_us, until_us)
        rows = concat_rows([rows, sealed])
    return merge(rows)
