"""What the writer queues, and how one batch of it becomes COPY records and a transaction.

The queue holds parallel lists of shared key objects, ints and floats: no object the garbage
collector tracks per sample (with 100,000s queued, per-sample tuples made GC the top cost).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import orjson

from backend.model import InvalidSample, ProcessSnapshot, SeriesKey
from backend.storage.postgres import Connection
from backend.storage.rollups import datetime_to_ms, mark_pending, minutes_of, ms_to_datetime
from backend.storage.sample_merge import Rows as SampleRows
from backend.storage.sample_merge import merge
from backend.storage.series_ids import MAX_TIME_MS

# PostgreSQL's binary COPY format (all integers big-endian, hence "!"):
# - header: the 11-byte signature "PGCOPY\n\377\r\n\0", a 32-bit flags field (0: no OIDs), a
#   32-bit length of the header extension area (0: none);
# - each row: a 16-bit field count (3), then per field a 32-bit byte length (8) and the value:
#   int8 series_id, timestamptz as int8 microseconds since 2000-01-01 UTC, float8 value;
# - trailer: a 16-bit field count of -1.
_ROW = struct.Struct("!hiqiqid")
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags = 0, extension length = 0
_COPY_TRAILER = b"\xff\xff"
_PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z


@dataclass(slots=True)
class PendingItem:
    keys: list[SeriesKey]  # one canonical key object per series, shared by every sample of it
    times: list[int]  # unix ms
    values: list[float]
    snapshots: list[tuple[str, datetime, str]]  # host, time, processes as JSON text
    enqueued_at: float  # time.monotonic()

    @property
    def size(self) -> int:
        return len(self.keys) + len(self.snapshots)


def encode_snapshot(snapshot: ProcessSnapshot) -> tuple[str, datetime, str]:
    if not isinstance(snapshot.host, str) or "\x00" in snapshot.host:
        raise InvalidSample(f"process snapshot host {snapshot.host!r} is not a NUL-free string")
    if not isinstance(snapshot.time_ms, int) or not 0 <= snapshot.time_ms <= MAX_TIME_MS:
        raise InvalidSample(f"process snapshot time {snapshot.time_ms!r} ms is outside 1970..9999")
    try:
        text = orjson.dumps(list(snapshot.processes)).decode()
    except TypeError as error:
        raise InvalidSample(f"process snapshot is not JSON-serialisable: {error}") from error
    if "\\u0000" in text:
        raise InvalidSample("process snapshot contains a NUL character (unstorable)")
    return (snapshot.host, ms_to_datetime(snapshot.time_ms), text)


@dataclass(slots=True)
class CopyRows:
    """One write's rows of `samples` as columns; series id 0 marks one not resolved yet."""

    series_ids: list[int]
    times_ms: list[int]
    values: list[float]
    unresolved: list[tuple[int, SeriesKey]]  # (row index, key)
    times: set[int]  # each distinct sample time (ms)

    def fill_series_ids(self, ids: Mapping[SeriesKey, int]) -> None:
        for index, key in self.unresolved:
            self.series_ids[index] = ids[key]
        self.unresolved = []

    def copy_data(self) -> bytes:
        """The rows in PostgreSQL's binary COPY format: ~3x less CPU than asyncpg encoding
        (series_id, datetime, value) records, and no datetime per row at all."""
        return copy_data(self.series_ids, self.times_ms, self.values)

    def split(self, frontier_ms: int) -> tuple[Rows, Rows]:
        """(rows for the head, rows older than the frontier, which go to samples_late)."""
        if not self.times_ms or min(self.times_ms) >= frontier_ms:
            return (self.series_ids, self.times_ms, self.values), ([], [], [])
        head: Rows = ([], [], [])
        late: Rows = ([], [], [])
        for row in zip(self.series_ids, self.times_ms, self.values, strict=True):
            part = head if row[1] >= frontier_ms else late
            part[0].append(row[0])
            part[1].append(row[1])
            part[2].append(row[2])
        return head, late


Rows = tuple[list[int], list[int], list[float]]  # series ids, unix ms, values


def copy_data(series_ids: list[int], times_ms: list[int], values: list[float]) -> bytes:
    pack = _ROW.pack
    rows = [
        pack(3, 8, series_id, 8, (time_ms - _PG_EPOCH_MS) * 1000, 8, value)
        for series_id, time_ms, value in zip(series_ids, times_ms, values, strict=True)
    ]
    return b"".join([_COPY_HEADER, *rows, _COPY_TRAILER])


def build_records(items: list[PendingItem], known: Callable[[SeriesKey], int | None]) -> CopyRows:
    """The rows of `items`; rows of series not in `known` get id 0 until filled."""
    series_ids: list[int] = []
    times_ms: list[int] = []
    values: list[float] = []
    unresolved: list[tuple[int, SeriesKey]] = []
    for item in items:
        ids: list[int | None] = list(map(known, item.keys))
        if None in ids:
            start = len(series_ids)
            for index, series_id in enumerate(ids):
                if series_id is None:
                    unresolved.append((start + index, item.keys[index]))
                    ids[index] = 0
        series_ids += ids  # type: ignore[arg-type]  # every None was replaced by 0
        times_ms += item.times
        values += item.values
    return CopyRows(series_ids, times_ms, values, unresolved, set(times_ms))


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    """COPY data as an async iterable: asyncpg reads a file-like source through the default
    thread pool (two thread hand-offs per COPY, each waking the event loop from another thread),
    an async iterable on the loop itself."""
    yield data


@dataclass(slots=True)
class Dropped:
    """Samples a batch carried that were stored already (see sample_merge for the rule)."""

    duplicates: int = 0  # the same value again
    conflicts: int = 0  # another value for a (series, time) already stored: the larger kept
    frontier_ms: int | None = None  # the head's frontier the batch was written under


async def commit_batch(
    conn: Connection,
    rows: CopyRows,
    snapshots: list[tuple[str, datetime, str]],
    *,
    writer_id: uuid.UUID,
    seq: int,
    check_progress: bool,
    deduplicate: bool = False,
) -> Dropped:
    """Samples, snapshots, rollup marks and the writer's progress in one transaction.

    Samples older than the head's frontier go to samples_late. The plain COPY fails on a
    (series, time) stored already (a sender's retry); `deduplicate` writes each (series, time)
    once instead, by the rule of `sample_merge`. With `check_progress` (a retry after an unknown
    outcome) a batch already committed is skipped.
    """
    dropped = Dropped()
    async with conn.transaction():
        if check_progress:
            last = await conn.fetchval(
                "SELECT last_batch FROM writer_progress WHERE writer_id = $1", writer_id
            )
            if last is not None and last >= seq:
                return dropped
        if rows.series_ids:
            frontier_ms = datetime_to_ms(await conn.fetchval("SELECT hostpulse_head_frontier()"))
            dropped.frontier_ms = frontier_ms
            parts = rows.split(frontier_ms)
            for table, part in zip(("samples", "samples_late"), parts, strict=True):
                if not part[0]:
                    continue
                if deduplicate:
                    found = await _write_once_each(conn, table, part)
                    dropped.duplicates += found.duplicates
                    dropped.conflicts += found.conflicts
                else:
                    await conn.copy_to_table(
                        table,
                        source=_one_chunk(copy_data(*part)),
                        columns=("series_id", "time", "value"),
                        format="binary",
                    )
        if snapshots:
            await conn.copy_records_to_table(
                "process_snapshots", records=snapshots, columns=("host", "time", "processes")
            )
        await mark_pending(conn, minutes_of(rows.times))
        await conn.execute(
            """
            INSERT INTO writer_progress (writer_id, last_batch) VALUES ($1, $2)
            ON CONFLICT (writer_id) DO UPDATE
            SET last_batch = EXCLUDED.last_batch, updated_at = now()
            """,
            writer_id,
            seq,
        )
    return dropped


# The set-based path for a batch holding samples stored already: the batch (one row per
# (series, time) by then) is COPYed into a per-connection temporary table; what is new is
# inserted (ON CONFLICT DO NOTHING waits for a concurrent writer of the same row, so whatever
# it skips is committed), then the stored rows left are locked, counted, and replaced where the
# rule of sample_merge says the stored value loses.
_STAGE = "hostpulse_stage"
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
    series_id bigint NOT NULL, time timestamptz NOT NULL, value double precision NOT NULL
) ON COMMIT DELETE ROWS
"""
# Identifiers in these come from this module (samples or samples_late), never from users.
_INSERT_NEW = """
WITH inserted AS (
    INSERT INTO {table} (series_id, time, value) SELECT series_id, time, value FROM {stage}
    ON CONFLICT (series_id, time) DO NOTHING
    RETURNING series_id, time
)
DELETE FROM {stage} s USING inserted i WHERE s.series_id = i.series_id AND s.time = i.time
"""
_COUNT_STORED = """
SELECT count(*) FILTER (WHERE hostpulse_value_order(new) = hostpulse_value_order(old)),
       count(*) FILTER (WHERE hostpulse_value_order(new) <> hostpulse_value_order(old))
FROM (SELECT s.value AS new, t.value AS old FROM {stage} s JOIN {table} t USING (series_id, time)
      FOR UPDATE OF t) AS met
"""
_REPLACE_LOSERS = """
UPDATE {table} t SET value = s.value FROM {stage} s
WHERE t.series_id = s.series_id AND t.time = s.time
  AND hostpulse_value_order(s.value) > hostpulse_value_order(t.value)
"""


async def _write_once_each(conn: Connection, table: str, part: Rows) -> Dropped:
    """Insert the new (series, time)s of `part`, replace stored values the rule says lose."""
    series_ids, times_ms, values = part
    incoming = merge(
        SampleRows(
            np.array(series_ids, np.int64),
            np.array(times_ms, np.int64) * 1000,
            np.array(values, np.float64),
        )
    )
    new = incoming.rows
    await conn.execute(_CREATE_STAGE)
    await conn.copy_to_table(
        _STAGE,
        source=_one_chunk(
            copy_data(new.series_ids.tolist(), (new.times_us // 1000).tolist(), new.values.tolist())
        ),
        columns=("series_id", "time", "value"),
        format="binary",
    )
    await conn.execute(_INSERT_NEW.format(stage=_STAGE, table=table))
    [(identical, conflicting)] = await conn.fetch(_COUNT_STORED.format(stage=_STAGE, table=table))
    if conflicting:
        await conn.execute(_REPLACE_LOSERS.format(stage=_STAGE, table=table))
    # Emptied for the other table's part in this transaction (DELETE: TRUNCATE would give the
    # temporary table a new file, and pg_class a new row, per batch).
    await conn.execute(f"DELETE FROM {_STAGE}")  # noqa: S608 - a constant
    return Dropped(incoming.duplicates + identical, incoming.conflicts + conflicting)
