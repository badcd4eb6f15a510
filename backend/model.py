"""The one internal sample model every ingest adapter translates into.

Downstream (storage writer, live fan-out, alert feed, read API) never knows which protocol a sample
came from. Metric names are Prometheus-style (`system_cpu_utilization_ratio`): OTLP and the agent's
JSON are translated with `conventions.naming`, remote_write and scrapes already are.

`SampleColumns` is the hot path's form of a batch's samples: a `Sample` object costs ~2 µs to build
(a frozen dataclass); an agent report has ~60 of them and the writer, the recent window and the
live frames only need columns. It is still a `Sequence[Sample]`, so any consumer that iterates gets
real `Sample`s, built on demand; the fan-out and storage read the columns directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, overload

Protocol_ = Literal["json", "otlp", "remote_write", "scrape"]

# metric, host, labels in the sample's own order: sorting on the hot path is measurable, and keys
# differing only in order resolve to the same series id anyway.
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class Sample:
    host: str  # the host the sample describes ('' when the source names none)
    name: str  # Prometheus-style metric name
    labels: Mapping[str, str]  # every label except the host
    time_ms: int  # unix milliseconds
    value: float  # finite: adapters reject NaN/Inf before this point (except scrape `up`=0/1)


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


class InvalidSample(ValueError):
    """A sample PostgreSQL cannot store; the message names the field."""


@dataclass(frozen=True, slots=True)
class ProcessSnapshot:
    """The top-N process table of one host at one time, as the UI shows it."""

    host: str
    time_ms: int
    processes: Sequence[Mapping[str, Any]]  # ProcessInfo fields of the agent's JSON schema


@dataclass(frozen=True, slots=True)
class IngestBatch:
    protocol: Protocol_
    samples: Sequence[Sample]
    process_snapshots: Sequence[ProcessSnapshot] = field(default_factory=tuple)


class Overloaded(Exception):
    """The writer queue is full: answer 503 with Retry-After (the exporter honours it)."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"writer queue full; retry after {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


class SampleSink(Protocol):
    async def accept(self, batch: IngestBatch) -> None:
        """Queue for PostgreSQL, write to the Redis window, publish live. Raises Overloaded."""
