"""The agent's internal metric model: OpenTelemetry names and units, one way in, three ways out.

Collectors produce `Metric`s; the Prometheus, OTLP and JSON sinks only translate them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from conventions.naming import Kind

Attributes = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Point:
    value: float
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Metric:
    """One OTel metric: name (`system.cpu.time`), UCUM unit (`s`), kind, description and points."""

    name: str
    unit: str
    kind: Kind
    description: str
    points: Sequence[Point]


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One of the top-N processes, as the UI's process table shows it."""

    rank: int
    pid: int
    name: str
    cpu_utilization: float  # 0..1 of the whole machine (elapsed time x number of CPUs)
    memory_rss_bytes: int
    memory_virtual_bytes: int
    threads: int
    disk_read_bytes: int | None  # None when the agent may not read /proc/<pid>/io
    disk_write_bytes: int | None
    open_fds: int | None  # None when the agent may not list /proc/<pid>/fd


@dataclass(frozen=True, slots=True)
class CollectorResult:
    """What one collector produced in one run, with its own health."""

    collector: str
    metrics: Sequence[Metric]
    duration_seconds: float
    success: bool
    error: str | None = None
    processes: Sequence[ProcessInfo] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything collected at one instant for one host; what every sink consumes."""

    timestamp: float  # unix seconds
    host_name: str
    host_id: str
    results: Sequence[CollectorResult]

    def metrics(self) -> list[Metric]:
        return [m for r in self.results for m in r.metrics]

    def processes(self) -> list[ProcessInfo]:
        return [p for r in self.results for p in r.processes]
