"""The agent's own health as ordinary metrics, so every output (Prometheus, OTLP, JSON) has it."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from conventions.naming import Kind
from exporter.model import CollectorResult, Metric, Point

AGENT_RESULT_NAME = "agent"


@dataclass(frozen=True, slots=True)
class HealthCounts:
    reports_buffered: int
    reports_dropped: int
    reports_sent: int
    send_failures: int


class AgentHealth:
    """Counters the JSON push sink updates from its threads and the agent reads every cycle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffered = 0
        self._dropped = 0
        self._sent = 0
        self._failures = 0

    def set_buffered(self, count: int) -> None:
        with self._lock:
            self._buffered = count

    def add_dropped(self, count: int) -> None:
        with self._lock:
            self._dropped += count

    def add_sent(self, count: int) -> None:
        with self._lock:
            self._sent += count

    def add_send_failure(self) -> None:
        with self._lock:
            self._failures += 1

    def counts(self) -> HealthCounts:
        with self._lock:
            return HealthCounts(self._buffered, self._dropped, self._sent, self._failures)

    def as_result(self, include_push: bool = True) -> CollectorResult:
        """A `CollectorResult` named `agent` with the hostpulse.* metrics."""
        counts = self.counts()
        metrics = []
        if include_push:
            metrics = [
                Metric(
                    "hostpulse.agent.reports.buffered",
                    "{report}",
                    Kind.UPDOWN,
                    "Reports waiting in the JSON push buffer.",
                    [Point(float(counts.reports_buffered))],
                ),
                Metric(
                    "hostpulse.agent.reports.dropped",
                    "{report}",
                    Kind.COUNTER,
                    "Reports dropped: buffer full (oldest first), refused by the backend, or"
                    " unreadable in the spool.",
                    [Point(float(counts.reports_dropped))],
                ),
                Metric(
                    "hostpulse.agent.reports.sent",
                    "{report}",
                    Kind.COUNTER,
                    "Reports the backend accepted.",
                    [Point(float(counts.reports_sent))],
                ),
                Metric(
                    "hostpulse.agent.send.failures",
                    "{failure}",
                    Kind.COUNTER,
                    "JSON push requests that failed (network error, 5xx, 429 or refused).",
                    [Point(float(counts.send_failures))],
                ),
            ]
        return CollectorResult(AGENT_RESULT_NAME, metrics, duration_seconds=0.0, success=True)
