"""Sealed chunk rows and row-form samples as numpy arrays: the I/O around sample_merge's cores."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from backend.storage.chunk_codec import decode_chunk, encode_chunk
from backend.storage.postgres import Connection
from backend.storage.sample_merge import (
    WINDOW_US,
    Rows,
    chunk_starts,
    concat_rows,
    rows_from_copy,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def us_to_datetime(time_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=time_us)


def datetime_to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


async def copy_rows(conn: Connection, query: str, *args: object) -> Rows:
    """The (series_id, time, value) rows `query` selects, by binary COPY (no per-row objects)."""
    return rows_from_copy(await copy_out(conn, query, *args))


async def copy_out(conn: Connection, query: str, *args: object) -> bytes:
    """`COPY (query) TO STDOUT (FORMAT binary)`, with `args` (ints, lists of ints, aware
    datetimes, timedeltas, None) written into the query as literals: asyncpg would instead
    prepare the query and have the server quote each argument, two more round trips per COPY."""
    parts: list[bytes] = []

    async def sink(data: bytes) -> None:
        parts.append(data)

    text = _PARAMETER.sub(lambda found: _literal(args[int(found.group(1)) - 1]), query)
    await conn.copy_from_query(text, output=sink, format="binary")
    return b"".join(parts)


_PARAMETER = re.compile(r"\$(\d+)\b")


def _literal(value: object) -> str:
    """A SQL literal of a value of one of the few types copy_out takes (never user text)."""
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, datetime) and value.tzinfo is not None:
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, timedelta):
        return f"'{value.total_seconds() * 1_000_000:.0f} microseconds'::interval"
    if isinstance(value, list) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        return "ARRAY[" + ",".join(str(int(item)) for item in value) + "]::bigint[]"
    raise TypeError(f"copy_out takes no {type(value).__name__} argument: {value!r}")


async def fetch_chunks(
    conn: Connection, series_ids: Sequence[int] | None, start_us: int, end_us: int
) -> Rows:
    """Every sealed sample of `series_ids` (all series when None) in [start_us, end_us)."""
    first_window = start_us - start_us % WINDOW_US
    records = await conn.fetch(
        "SELECT series_id, window_start, data FROM sample_chunks "
        "WHERE ($1::bigint[] IS NULL OR series_id = ANY($1::bigint[])) "
        "AND window_start >= $2 AND window_start < $3",
        None if series_ids is None else list(series_ids),
        us_to_datetime(first_window),
        us_to_datetime(end_us),
    )
    parts = []
    for series_id, _, data in records:
        times, values = decode_chunk(data)
        inside = (times >= start_us) & (times < end_us)
        if not inside.all():
            times, values = times[inside], values[inside]
        parts.append(Rows(np.full(len(times), series_id, np.int64), times, values))
    return concat_rows(parts)


async def lock_chunks(conn: Connection, keys: list[tuple[int, int]]) -> list[tuple[int, bytes]]:
    """(series_id, data) of the chunks (series_id, window_start µs) that exist, locked until
    commit; `decode_chunks` turns them into rows."""
    if not keys:
        return []
    records = await conn.fetch(
        "SELECT c.series_id, c.data FROM sample_chunks c "
        "JOIN unnest($1::bigint[], $2::timestamptz[]) AS k(series_id, window_start) "
        "USING (series_id, window_start) ORDER BY 1, c.window_start FOR UPDATE OF c",
        [key[0] for key in keys],
        [us_to_datetime(key[1]) for key in keys],
    )
    return [(series_id, data) for series_id, data in records]


def decode_chunks(chunks: list[tuple[int, bytes]]) -> Rows:
    parts = []
    for series_id, data in chunks:
        times, values = decode_chunk(data)
        parts.append(Rows(np.full(len(times), series_id, np.int64), times, values))
    return concat_rows(parts)


@dataclass(slots=True)
class EncodedChunks:
    """What `write_chunks` upserts: one chunk per (series, window)."""

    series_ids: list[int]
    starts: list[datetime]
    counts: list[int]
    blobs: list[bytes]


def encode_chunks(merged: Rows) -> EncodedChunks:
    """One chunk per (series, window) of merged rows (sorted by series, time)."""
    encoded = EncodedChunks([], [], [], [])
    if len(merged) == 0:
        return encoded
    starts, windows = chunk_starts(merged)
    ends = np.append(starts[1:], len(merged))
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        encoded.series_ids.append(int(merged.series_ids[lo]))
        encoded.starts.append(us_to_datetime(int(windows[lo])))
        encoded.counts.append(hi - lo)
        encoded.blobs.append(encode_chunk(merged.times_us[lo:hi], merged.values[lo:hi]))
    return encoded


_UPSERT_CHUNKS = """
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::int[], $4::bytea[])
        AS i(series_id, window_start, samples, data)
), old AS (
    SELECT c.series_id, c.window_start, c.samples
    FROM sample_chunks c JOIN input i USING (series_id, window_start)
), upserted AS (
    INSERT INTO sample_chunks (series_id, window_start, samples, data)
    SELECT series_id, window_start, samples, data FROM input
    ON CONFLICT (series_id, window_start) DO UPDATE
    SET samples = EXCLUDED.samples, data = EXCLUDED.data
    RETURNING 1
), counted AS (
    INSERT INTO sealed_day_stats AS s (day, samples, chunks)
    SELECT (i.window_start AT TIME ZONE 'UTC')::date,
           sum(i.samples - coalesce(o.samples, 0)), count(*) FILTER (WHERE o.samples IS NULL)
    FROM input i LEFT JOIN old o USING (series_id, window_start)
    GROUP BY 1
    ON CONFLICT (day) DO UPDATE
    SET samples = s.samples + EXCLUDED.samples, chunks = s.chunks + EXCLUDED.chunks
    RETURNING 1
)
SELECT count(*) FROM upserted  -- `counted` runs too: data-modifying CTEs always do
"""


async def write_chunks(conn: Connection, chunks: EncodedChunks) -> int:
    """Upsert `chunks`, keeping `sealed_day_stats` in step; returns the chunks written. Call it
    in the transaction that locked the chunks it replaces (`lock_chunks`)."""
    if not chunks.series_ids:
        return 0
    for day in sorted({start.date() for start in chunks.starts}):
        await conn.execute("SELECT hostpulse_ensure_chunk_partition($1)", day)
    written: int = await conn.fetchval(
        _UPSERT_CHUNKS, chunks.series_ids, chunks.starts, chunks.counts, chunks.blobs
    )
    return written
