"""The collector protocol: a name and `collect() -> CollectorOutput`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from exporter.model import Metric, ProcessInfo


@dataclass(frozen=True, slots=True)
class CollectorOutput:
    metrics: Sequence[Metric]
    processes: Sequence[ProcessInfo] = field(default_factory=tuple)


class Collector(Protocol):
    """A source of metrics. It may keep state between calls (previous counters for rates)."""

    name: str

    def collect(self) -> CollectorOutput: ...
