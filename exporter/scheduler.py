"""Runs each collector on its own interval and keeps its latest result; one failure stays local.

Pure scheduling over an injected clock, so tests drive time by hand; the agent's thread calls
`run_due()` and sleeps until `next_due()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from exporter.collectors.base import Collector
from exporter.model import CollectorResult

log = logging.getLogger(__name__)


class ScheduledLike(Protocol):
    """An item of `exporter.collectors.registry.build_collectors(config)`."""

    @property
    def collector(self) -> Collector: ...

    @property
    def interval(self) -> float | None: ...


def run_collector(
    collector: Collector, clock: Callable[[], float] = time.perf_counter
) -> CollectorResult:
    """One timed `collect()`; an exception becomes success=False with the error, never a raise."""
    started = clock()
    try:
        output = collector.collect()
    except Exception as exc:
        return CollectorResult(
            collector=collector.name,
            metrics=(),
            duration_seconds=max(0.0, clock() - started),
            success=False,
            error=f"{type(exc).__name__}: {exc}",
        )
    return CollectorResult(
        collector=collector.name,
        metrics=output.metrics,
        duration_seconds=max(0.0, clock() - started),
        success=True,
        processes=output.processes,
    )


@dataclass(slots=True)
class _Slot:
    collector: Collector
    interval: float
    due: float
    latest: CollectorResult | None = None


class CollectionScheduler:
    """Knows when each collector is next due and what it last produced."""

    def __init__(
        self,
        scheduled: Sequence[ScheduledLike],
        base_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if base_interval <= 0:
            raise ValueError("base_interval must be positive")
        self._clock = clock
        start = clock()
        self._slots = [
            _Slot(item.collector, item.interval or base_interval, due=start) for item in scheduled
        ]
        for slot in self._slots:
            if slot.interval <= 0:
                raise ValueError(f"collector {slot.collector.name}: interval must be positive")

    def run_due(self) -> list[CollectorResult]:
        """Run every collector whose time has come; return every collector's latest result."""
        for slot in self._slots:
            now = self._clock()
            if now < slot.due:
                continue
            result = run_collector(slot.collector)
            self._log_change(slot.latest, result)
            slot.latest = result
            # Keep the cadence without drift; after a stall, restart from now rather than catch up.
            slot.due += slot.interval
            if slot.due <= now:
                slot.due = now + slot.interval
        return [slot.latest for slot in self._slots if slot.latest is not None]

    def next_due(self) -> float:
        """Clock time at which the earliest collector is due (inf without collectors)."""
        return min((slot.due for slot in self._slots), default=float("inf"))

    @staticmethod
    def _log_change(previous: CollectorResult | None, current: CollectorResult) -> None:
        # Once when a collector starts failing and once when it recovers, not every cycle.
        was_ok = previous is None or previous.success
        if was_ok and not current.success:
            log.warning(
                "collector failed; the other collectors go on",
                extra={"fields": {"collector": current.collector, "error": current.error}},
            )
        elif not was_ok and current.success:
            log.info("collector recovered", extra={"fields": {"collector": current.collector}})
