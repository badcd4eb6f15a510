"""The writer's gate: a batch's samples as queue rows, each new series checked once.

Keys that passed `check_storable` map to themselves, so every queued sample of a series shares
one key object (memory, and no per-sample object for the garbage collector to walk).
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.model import InvalidSample, Sample, SampleColumns, SeriesKey
from backend.storage.series_ids import check_storable, series_key

QueueRows = tuple[list[SeriesKey], list[int], list[float]]  # canonical keys, times, values


class ValidatedKeys:
    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._canonical: dict[SeriesKey, SeriesKey] = {}
        self._max_entries = max_entries

    def rows(self, samples: Sequence[Sample]) -> QueueRows:
        """Keys, times and values of `samples`; raises InvalidSample (nothing vouched for)."""
        if isinstance(samples, SampleColumns):  # the JSON path: no per-sample objects at all
            return self._column_keys(samples), list(samples.times), list(samples.values)
        canonical = self._canonical
        keys: list[SeriesKey] = []
        times: list[int] = []
        values: list[float] = []
        new_keys: list[SeriesKey] = []
        try:
            for sample in samples:
                key = series_key(sample)
                shared = canonical.get(key)
                if shared is None:
                    check_storable(sample)
                    new_keys.append(key)
                    shared = key
                keys.append(shared)
                times.append(sample.time_ms)
                values.append(float(sample.value))
        except (TypeError, ValueError) as error:
            if isinstance(error, InvalidSample):
                raise
            raise InvalidSample(f"sample is not storable (value or labels): {error}") from error
        self._vouch_for(new_keys)
        return keys, times, values

    def _column_keys(self, columns: SampleColumns) -> list[SeriesKey]:
        keys = list(map(self._canonical.get, columns.keys))
        if None not in keys:
            return keys  # type: ignore[return-value]  # no None: every key was known
        new_keys: dict[SeriesKey, SeriesKey] = {}
        for index, shared in enumerate(keys):
            if shared is None:
                key = columns.keys[index]
                if key not in new_keys:
                    check_storable(columns[index])
                    new_keys[key] = key
                keys[index] = new_keys[key]
        self._vouch_for(list(new_keys))
        return keys  # type: ignore[return-value]  # every None was replaced

    def _vouch_for(self, new_keys: list[SeriesKey]) -> None:
        """Only once every sample passed: a rejected batch vouches for nothing."""
        if new_keys:
            if len(self._canonical) > self._max_entries:
                self._canonical.clear()
            self._canonical.update(zip(new_keys, new_keys, strict=True))
