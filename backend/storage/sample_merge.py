"""Pure cores of sealed history: binary COPY rows as arrays, one sample per (series, time), and
bucket aggregates. Every reader and the sealing job use `merge`, so they all agree.

The rule for two arrivals of one (series, time) with different values: the larger value is kept,
by IEEE 754 total order (so +0.0 beats -0.0 and the choice never depends on which arrived first,
which process wrote it, or whether it is merged in a read, by the writer or by the sealing job).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z, PostgreSQL's timestamp origin
WINDOW_US = 2 * 3_600 * 1_000_000  # one chunk per series and 2-hour window (041_sealed_chunks)
# A binary COPY row of (int8, timestamptz, float8): field count, then length + value per field.
_COPY_ROW = np.dtype(
    [("n", ">i2"), ("l1", ">i4"), ("series_id", ">i8"), ("l2", ">i4"), ("time", ">i8"),
     ("l3", ">i4"), ("value", ">f8")]
)  # fmt: skip
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


@dataclass(slots=True)
class Rows:
    """Samples as parallel arrays: series ids, times (µs since the Unix epoch) and values."""

    series_ids: np.ndarray
    times_us: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.series_ids)

    def take(self, index: np.ndarray | slice) -> Rows:
        return Rows(self.series_ids[index], self.times_us[index], self.values[index])


def empty_rows() -> Rows:
    return Rows(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))


def concat_rows(parts: Iterable[Rows]) -> Rows:
    chosen = [part for part in parts if len(part)]
    if not chosen:
        return empty_rows()
    return Rows(
        np.concatenate([p.series_ids for p in chosen]).astype(np.int64, copy=False),
        np.concatenate([p.times_us for p in chosen]).astype(np.int64, copy=False),
        np.concatenate([p.values for p in chosen]).astype(np.float64, copy=False),
    )


def columns_from_copy(data: bytes, types: Sequence[str]) -> list[np.ndarray]:
    """The columns of binary COPY output whose fields are all 8 bytes wide and never NULL
    (int8, timestamptz, float8): `types` are their numpy big-endian types ('>i8', '>f8')."""
    if not data.startswith(_COPY_SIGNATURE):
        raise ValueError("not PostgreSQL binary COPY data")
    extension = int.from_bytes(data[15:19], "big")
    body = memoryview(data)[19 + extension : len(data) - 2]  # the trailer is int16 -1
    fields = [("n", ">i2")]
    for index, kind in enumerate(types):
        fields += [(f"length{index}", ">i4"), (f"c{index}", kind)]
    row = np.dtype(fields)
    if len(body) % row.itemsize:
        raise ValueError(f"binary COPY rows are not {len(types)} fields of 8 bytes")
    rows = np.frombuffer(body, row)
    if len(rows) and (rows["n"] != len(types)).any():
        raise ValueError(f"binary COPY rows are not {len(types)} fields of 8 bytes")
    return [rows[f"c{index}"].astype(kind.replace(">", "=")) for index, kind in enumerate(types)]


def rows_from_copy(data: bytes) -> Rows:
    """The rows of `COPY (SELECT series_id, time, value ...) TO STDOUT (FORMAT binary)`."""
    series_ids, times, values = columns_from_copy(data, (">i8", ">i8", ">f8"))
    return Rows(series_ids, times + PG_EPOCH_US, values)


def rows_to_copy(rows: Rows) -> bytes:
    """`rows` as binary COPY data for a (series_id bigint, time timestamptz, value float8) table."""
    out = np.empty(len(rows), _COPY_ROW)
    out["n"], out["l1"], out["l2"], out["l3"] = 3, 8, 8, 8
    out["series_id"] = rows.series_ids
    out["time"] = rows.times_us - PG_EPOCH_US
    out["value"] = rows.values
    return _COPY_SIGNATURE + bytes(8) + out.tobytes() + b"\xff\xff"


def value_order(values: np.ndarray) -> np.ndarray:
    """int64 keys that sort float64 values in IEEE 754 total order (-0.0 before +0.0)."""
    bits = np.ascontiguousarray(values, np.float64).view(np.int64)
    return np.where(bits < 0, bits ^ np.int64(0x7FFF_FFFF_FFFF_FFFF), bits)


@dataclass(slots=True)
class Merged:
    rows: Rows  # sorted by (series, time), one per (series, time)
    duplicates: int  # arrivals dropped because the same value was already there
    conflicts: int  # arrivals dropped because a larger value won


def merge(rows: Rows) -> Merged:
    """One sample per (series, time): the largest value (total order) of the arrivals."""
    n = len(rows)
    if n == 0:
        return Merged(rows, 0, 0)
    order = _distinct_order(rows.series_ids, rows.times_us)
    if order is not None:
        return Merged(rows.take(order), 0, 0)
    keys = value_order(rows.values)
    order = np.lexsort((keys, rows.times_us, rows.series_ids))
    s, t, k = rows.series_ids[order], rows.times_us[order], keys[order]
    last = np.ones(n, bool)
    last[:-1] = (s[1:] != s[:-1]) | (t[1:] != t[:-1])
    if last.all():
        return Merged(rows.take(order), 0, 0)
    group = np.cumsum(np.concatenate([[True], last[:-1]])) - 1
    kept_key = k[last][group]
    dropped = ~last
    identical = int(np.count_nonzero(k[dropped] == kept_key[dropped]))
    return Merged(rows.take(order[last]), identical, int(np.count_nonzero(dropped)) - identical)


def _distinct_order(series_ids: np.ndarray, times_us: np.ndarray) -> np.ndarray | None:
    """The order that sorts rows by (series, time), or None if some (series, time) repeats.

    The common case first: rows read from the head come out in time order within each series,
    so a stable sort by series alone sorts them (a radix sort when the ids span < 65,536), a
    few ms for a seal batch where a three-key lexsort takes ~50 ms of a core.
    """
    low = series_ids.min()
    if series_ids.max() - low < 1 << 16:
        order = np.argsort((series_ids - low).astype(np.uint16), kind="stable")
    else:
        order = np.argsort(series_ids, kind="stable")
    s, t = series_ids[order], times_us[order]
    if bool(np.all((s[1:] != s[:-1]) | (t[1:] > t[:-1]))):
        return order
    order = np.lexsort((times_us, series_ids))
    s, t = series_ids[order], times_us[order]
    if bool(np.any((s[1:] == s[:-1]) & (t[1:] == t[:-1]))):
        return None
    return order


def chunk_starts(merged: Rows) -> tuple[np.ndarray, np.ndarray]:
    """(index of each chunk's first row, window start µs of every row) of merged rows (sorted
    by series, then time): one chunk per run of one series and window."""
    windows = window_starts(merged.times_us)
    change = (merged.series_ids[1:] != merged.series_ids[:-1]) | (windows[1:] != windows[:-1])
    return np.flatnonzero(np.concatenate([[len(merged) > 0], change])), windows


MINUTE_US = 60_000_000


def repeated_minutes(rows: Rows) -> set[tuple[int, int]]:
    """(series id, minute start µs) of every minute holding a (series, time) more than once."""
    if len(rows) < 2:
        return set()
    order = np.lexsort((rows.times_us, rows.series_ids))
    s, t = rows.series_ids[order], rows.times_us[order]
    again = np.flatnonzero((s[1:] == s[:-1]) & (t[1:] == t[:-1])) + 1
    minutes = t[again] - np.mod(t[again], MINUTE_US)
    return set(zip(s[again].tolist(), minutes.tolist(), strict=True))


def runs(keys: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of equal neighbours in `keys` (sorted input: each distinct key)."""
    if len(keys) == 0:
        return
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    ends = np.concatenate([starts[1:], [len(keys)]])
    yield from zip(starts.tolist(), ends.tolist(), strict=True)


def window_starts(times_us: np.ndarray) -> np.ndarray:
    starts: np.ndarray = times_us - np.mod(times_us, WINDOW_US)
    return starts


@dataclass(slots=True)
class Buckets:
    """Aggregates per (series, bucket start µs), sorted by series then bucket."""

    series_ids: np.ndarray
    starts_us: np.ndarray
    sums: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    counts: np.ndarray


def bucket_aggregates(rows: Rows, step_us: int) -> Buckets:
    """min/max/sum/count per (series, bucket) of merged rows (sorted by series, time)."""
    if len(rows) == 0:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return Buckets(empty_i, empty_i, empty_f, empty_f, empty_f, empty_i)
    starts = rows.times_us - np.mod(rows.times_us, step_us)
    s = rows.series_ids
    change = (s[1:] != s[:-1]) | (starts[1:] != starts[:-1])
    first = np.flatnonzero(np.concatenate([[True], change]))
    v = rows.values
    counts = np.diff(np.concatenate([first, [len(rows)]]))
    with np.errstate(over="ignore", invalid="ignore"):  # inf, or NaN for inf + -inf: IEEE's sums
        sums = np.add.reduceat(v, first)
    return Buckets(
        s[first],
        starts[first],
        sums,
        np.minimum.reduceat(v, first),
        np.maximum.reduceat(v, first),
        counts.astype(np.int64),
    )


def combine_buckets(parts: Sequence[Buckets]) -> Buckets:
    """One row per (series, bucket) of `parts`, sorted by series then bucket: parts of a bucket
    (read from different places) add up."""
    chosen = [part for part in parts if len(part.series_ids)]
    if not chosen:
        return bucket_aggregates(empty_rows(), 1)
    s, t, sums, mins, maxs, counts = (
        np.concatenate([getattr(p, name) for p in chosen])
        for name in ("series_ids", "starts_us", "sums", "mins", "maxs", "counts")
    )
    order = np.lexsort((t, s))
    s, t = s[order], t[order]
    change = np.concatenate([[True], (s[1:] != s[:-1]) | (t[1:] != t[:-1])])
    if change.all():
        return Buckets(s, t, sums[order], mins[order], maxs[order], counts[order])
    first = np.flatnonzero(change)
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduceat(sums[order], first)
    return Buckets(
        s[first], t[first], total, np.minimum.reduceat(mins[order], first),
        np.maximum.reduceat(maxs[order], first), np.add.reduceat(counts[order], first),
    )  # fmt: skip
