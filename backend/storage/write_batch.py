"""What the writer queues, and how one batch of it becomes COPY records and a transaction.

The queue holds parallel lists of shared key objects, ints and floats: no object the garbage
collector tracks per sample (with 100,000s queued, per-sample tuples made GC the top cost).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson

from backend.model import ProcessSnapshot
from backend.storage.postgres import Connection
from backend.storage.rollups import mark_pending, minutes_of, ms_to_datetime
from backend.storage.series_ids import MAX_TIME_MS, InvalidSample, SeriesKey

SampleRecord = tuple[int, datetime, float]  # series_id, time, value: a row of `samples`


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
    records: list[SampleRecord]
    unresolved: list[tuple[int, SeriesKey]]  # (index in records, key): series id not yet known
    times: dict[int, datetime]  # each distinct sample time, built once

    def fill_series_ids(self, ids: Mapping[SeriesKey, int]) -> None:
        for index, key in self.unresolved:
            _, moment, value = self.records[index]
            self.records[index] = (ids[key], moment, value)
        self.unresolved = []


def build_records(items: list[PendingItem], known: Callable[[SeriesKey], int | None]) -> CopyRows:
    """COPY records for the items in one pass; rows of uncached series get id 0 until filled."""
    times: dict[int, datetime] = {}  # reports share timestamps: build each datetime once
    records: list[SampleRecord] = []
    unresolved: list[tuple[int, SeriesKey]] = []
    for item in items:
        for key, time_ms, value in zip(item.keys, item.times, item.values, strict=True):
            moment = times.get(time_ms)
            if moment is None:
                moment = times[time_ms] = ms_to_datetime(time_ms)
            series_id = known(key)
            if series_id is None:
                unresolved.append((len(records), key))
                series_id = 0
            records.append((series_id, moment, value))
    return CopyRows(records, unresolved, times)


async def commit_batch(
    conn: Connection,
    rows: CopyRows,
    snapshots: list[tuple[str, datetime, str]],
    *,
    writer_id: uuid.UUID,
    seq: int,
    check_progress: bool,
) -> None:
    """Samples, snapshots, rollup marks and the writer's progress in one transaction.

    With `check_progress` (a retry after an unknown outcome) a batch already committed is skipped.
    """
    async with conn.transaction():
        if check_progress:
            last = await conn.fetchval(
                "SELECT last_batch FROM writer_progress WHERE writer_id = $1", writer_id
            )
            if last is not None and last >= seq:
                return
        if rows.records:
            await conn.copy_records_to_table(
                "samples", records=rows.records, columns=("series_id", "time", "value")
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
