"""Series identity: (metric, host, labels) -> `series.id`, cached; new ones cost one round trip."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from backend.model import InvalidSample, Sample, SeriesKey
from backend.storage.postgres import Connection

# timestamptz spans years 4713 BC .. 294276 AD, Python's datetime 1..9999: keep to what both hold.
MIN_TIME_MS = 0
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
# Metric and host are in a btree index, whose entries must stay well under ~2.7 kB.
MAX_NAME_BYTES = 1_024


def series_key(sample: Sample) -> SeriesKey:
    labels = sample.labels
    return (sample.name, sample.host, tuple(labels.items()) if labels else ())


def check_storable(sample: Sample) -> None:
    """Raise InvalidSample unless every text is NUL-free UTF-8 and the time fits a timestamptz."""
    _check_text("metric name", sample.name, MAX_NAME_BYTES)
    _check_text("host", sample.host, MAX_NAME_BYTES)
    for name, value in sample.labels.items():
        _check_text("label name", name)
        _check_text(f"label {name!r}", value)
    if not isinstance(sample.time_ms, int) or not MIN_TIME_MS <= sample.time_ms <= MAX_TIME_MS:
        raise InvalidSample(f"sample time {sample.time_ms!r} ms is outside 1970..9999")


def _check_text(what: str, text: object, max_bytes: int | None = None) -> None:
    if not isinstance(text, str):
        raise InvalidSample(f"{what} must be a string, got {type(text).__name__}")
    if "\x00" in text:
        raise InvalidSample(f"{what} {text[:80]!r} contains a NUL character")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidSample(f"{what} {text[:80]!r} is not valid Unicode (lone surrogate)") from None
    if max_bytes is not None and size > max_bytes:
        raise InvalidSample(f"{what} is {size} bytes long; the limit is {max_bytes}")


_UPSERT = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
        WITH ORDINALITY AS i(metric, host, labels, n)
), upserted AS (
    INSERT INTO series (metric, host, labels)
    SELECT metric, host, labels FROM input ORDER BY n
    ON CONFLICT (metric, host, labels_hash) DO UPDATE SET metric = EXCLUDED.metric
    RETURNING id, metric, host, labels_hash
)
SELECT i.n, u.id
FROM input i
JOIN upserted u
  ON u.metric = i.metric AND u.host = i.host AND u.labels_hash = md5(i.labels::text)::uuid
"""


def _canonical(key: SeriesKey) -> SeriesKey:
    return (key[0], key[1], tuple(sorted(key[2])))


class SeriesIds:
    """The writer's cache of series ids; `resolve` fetches the missing ones in one statement."""

    def __init__(self, max_entries: int = 2_000_000) -> None:
        self._ids: dict[SeriesKey, int] = {}
        self._max_entries = max_entries

    def __contains__(self, key: SeriesKey) -> bool:
        return key in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> Mapping[SeriesKey, int]:
        return self._ids

    async def resolve(self, conn: Connection, keys: Iterable[SeriesKey]) -> None:
        """Create (or find) the series of `keys` not yet cached."""
        wanted = list(dict.fromkeys(keys))
        missing = [key for key in wanted if key not in self._ids]
        if not missing:
            return
        if len(self._ids) + len(missing) > self._max_entries:
            # A crude bound on memory: forget everything, then re-read what this batch needs.
            self._ids.clear()
            missing = wanted
        # One upsert row per distinct series: a statement may not update the same row twice.
        # Sorted: writers upserting overlapping series lock them in one order (no deadlock).
        canonical = sorted({_canonical(key) for key in missing})
        rows = await conn.fetch(
            _UPSERT,
            [key[0] for key in canonical],
            [key[1] for key in canonical],
            [orjson.dumps(dict(key[2])).decode() for key in canonical],
        )
        ids = {canonical[row["n"] - 1]: row["id"] for row in rows}
        for key in missing:
            found = ids.get(_canonical(key))
            if found is not None:
                self._ids[key] = found
        unresolved = [key for key in missing if key not in self._ids]
        if unresolved:
            raise RuntimeError(f"{len(unresolved)} series ids were not returned by the upsert")
