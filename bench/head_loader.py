"""Bench data straight into the head: series registered in bulk, rows by numpy-built binary COPY.

Shared by storage_density_bench.py and backend_bench.py (its sealing backlog); the rows land in
the head partitions exactly as the writer leaves them, without a server in between.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import orjson
from realistic_host import Series

from backend.storage.chunk_store import us_to_datetime
from backend.storage.postgres import Connection
from backend.storage.sample_merge import Rows, rows_to_copy


def copy_bytes(series_ids: np.ndarray, times_ms: np.ndarray, values: np.ndarray) -> bytes:
    """Binary COPY rows of (series_id, time, value), built by numpy."""
    return rows_to_copy(Rows(series_ids, times_ms * 1000, values))


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def register(conn: Connection, series: list[Series]) -> list[int]:
    """Insert the series rows; their ids, in order."""
    ids = await conn.fetch(
        "INSERT INTO series (metric, host, labels) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[]) RETURNING id",
        [s.metric for s in series],
        [s.host for s in series],
        [orjson.dumps(s.labels).decode() for s in series],
    )
    return [row["id"] for row in ids]


async def copy_window(
    conn: Connection,
    series: list[Series],
    ids: list[int],
    lo: int,
    hi: int,
    *,
    in_time_order: bool = False,
) -> int:
    """COPY the samples of [lo, hi) ms (one head window) into the head; returns how many.

    Series by series by default (each series' rows on pages of their own: the cheapest layout
    to seal); `in_time_order` lays the rows out as ingest leaves them, every series' sample of
    one moment next to the others', so sealing a range of series reads pages shared with the
    rest of the window.
    """
    parts_id, parts_t, parts_v = [], [], []
    for series_id, s in zip(ids, series, strict=True):
        a, b = np.searchsorted(s.times_ms, [lo, hi])
        parts_id.append(np.full(b - a, series_id, np.int64))
        parts_t.append(s.times_ms[a:b])
        parts_v.append(s.values[a:b])
    series_ids, times, values = (np.concatenate(p) for p in (parts_id, parts_t, parts_v))
    if in_time_order:
        order = np.lexsort((series_ids, times))
        series_ids, times, values = series_ids[order], times[order], values[order]
    data = copy_bytes(series_ids, times, values)
    await conn.execute("SELECT hostpulse_ensure_head_partition($1)", us_to_datetime(lo * 1000))
    await conn.copy_to_table(
        "samples", source=_one_chunk(data), columns=("series_id", "time", "value"), format="binary"
    )
    return sum(len(p) for p in parts_id)
