"""The one internal sample model every ingest adapter translates into.

Downstream (storage writer, live hub, alert engine, read API) never knows which protocol a sample
came from. Metric names are Prometheus-style (`system_cpu_utilization_ratio`): OTLP and the agent's
JSON are translated with `exporter.naming`, remote_write and scrapes already are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Protocol_ = Literal["json", "otlp", "remote_write", "scrape"]


@dataclass(frozen=True, slots=True)
class Sample:
    host: str  # the host the sample describes ('' when the source names none)
    name: str  # Prometheus-style metric name
    labels: Mapping[str, str]  # every label except the host
    time_ms: int  # unix milliseconds
    value: float  # finite: adapters reject NaN/Inf before this point (except scrape `up`=0/1)


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
