"""Samples as parallel columns: the hot ingest path's form of `IngestBatch.samples`.

A `Sample` object costs ~2 µs to build (a frozen dataclass); an agent report has ~60 of them and
the writer, the recent window and the live frames only need columns. `SampleColumns` is still a
`Sequence[Sample]`, so any consumer that iterates gets real `Sample`s, built on demand; the
storage layer reads the columns directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import overload

from backend.model import Sample
from backend.storage.series_ids import SeriesKey


class SampleColumns(Sequence[Sample]):
    """Sample i is (keys[i], labels[i], times[i], values[i]); labels[i] is dict(keys[i][2])."""

    __slots__ = ("keys", "labels", "times", "values")

    def __init__(
        self,
        keys: list[SeriesKey],
        labels: list[Mapping[str, str]],
        times: list[int],
        values: list[float],
    ) -> None:
        if not len(keys) == len(labels) == len(times) == len(values):
            raise ValueError("sample columns must all have the same length")
        self.keys = keys
        self.labels = labels
        self.times = times
        self.values = values

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, index: int) -> Sample: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Sample]: ...
    def __getitem__(self, index: int | slice) -> Sample | Sequence[Sample]:
        if isinstance(index, slice):
            return SampleColumns(
                self.keys[index], self.labels[index], self.times[index], self.values[index]
            )
        key = self.keys[index]
        return Sample(key[1], key[0], self.labels[index], self.times[index], self.values[index])

    def __iter__(self) -> Iterator[Sample]:
        for key, labels, time_ms, value in zip(
            self.keys, self.labels, self.times, self.values, strict=True
        ):
            yield Sample(key[1], key[0], labels, time_ms, value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SampleColumns):
            return (self.keys, self.times, self.values) == (other.keys, other.times, other.values)
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable columns, like a list

    def __repr__(self) -> str:
        return f"SampleColumns({len(self)} samples)"

    def extend(self, other: SampleColumns) -> None:
        self.keys += other.keys
        self.labels += other.labels
        self.times += other.times
        self.values += other.values


def empty_columns() -> SampleColumns:
    return SampleColumns([], [], [], [])


def as_columns(samples: Sequence[Sample]) -> SampleColumns:
    """`samples` as columns: itself when it already is, else one pass over the objects."""
    if isinstance(samples, SampleColumns):
        return samples
    keys: list[SeriesKey] = []
    labels: list[Mapping[str, str]] = []
    times: list[int] = []
    values: list[float] = []
    for sample in samples:
        sample_labels = sample.labels
        keys.append(
            (sample.name, sample.host, tuple(sample_labels.items()) if sample_labels else ())
        )
        labels.append(sample_labels)
        times.append(sample.time_ms)
        values.append(sample.value)
    return SampleColumns(keys, labels, times, values)


def concat(parts: Sequence[Sequence[Sample]]) -> Sequence[Sample]:
    """All samples of `parts` in order; columns when every part is columns."""
    if all(isinstance(part, SampleColumns) for part in parts):
        merged = empty_columns()
        for part in parts:
            merged.extend(part)  # type: ignore[arg-type]  # checked just above
        return merged
    return [sample for part in parts for sample in part]
