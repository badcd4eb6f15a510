"""Per-collector intervals and isolation: a raising collector never stops the others."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conventions.naming import Kind
from exporter.collectors.base import Collector, CollectorOutput
from exporter.model import Metric, Point
from exporter.scheduler import CollectionScheduler, run_collector


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingCollector:
    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def collect(self) -> CollectorOutput:
        self.calls += 1
        point = Point(float(self.calls))
        return CollectorOutput([Metric(f"test.{self.name}", "1", Kind.GAUGE, "", [point])])


class BrokenCollector:
    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def collect(self) -> CollectorOutput:
        self.calls += 1
        raise OSError("cannot read /proc/broken")


@dataclass
class Scheduled:
    collector: Collector
    interval: float | None


def test_a_raising_collector_is_reported_failed_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    good, broken = CountingCollector("good"), BrokenCollector()
    scheduler = CollectionScheduler(
        [Scheduled(broken, None), Scheduled(good, None)], base_interval=2.0, clock=clock
    )
    for _ in range(3):
        results = {r.collector: r for r in scheduler.run_due()}
        clock.now += 2.0
    assert good.calls == 3
    assert broken.calls == 3
    assert results["good"].success
    assert results["good"].metrics[0].points[0].value == 3.0
    assert not results["broken"].success
    assert results["broken"].metrics == ()
    assert results["broken"].error == "OSError: cannot read /proc/broken"
    failures = [r for r in caplog.records if "collector failed" in r.getMessage()]
    assert len(failures) == 1, "logged when it starts failing, not every cycle"


def test_each_collector_runs_on_its_own_interval() -> None:
    clock = FakeClock()
    fast, base, slow = (
        CountingCollector("fast"),
        CountingCollector("base"),
        CountingCollector("slow"),
    )
    scheduler = CollectionScheduler(
        [Scheduled(fast, 1.0), Scheduled(base, None), Scheduled(slow, 10.0)],
        base_interval=2.0,
        clock=clock,
    )
    for _ in range(20):  # 20 s in 1 s steps
        results = scheduler.run_due()
        clock.now += 1.0
    assert (fast.calls, base.calls, slow.calls) == (20, 10, 2)
    # A slow collector's latest result stays in every snapshot between its runs.
    assert {r.collector for r in results} == {"fast", "base", "slow"}


def test_next_due_is_the_earliest_collector() -> None:
    clock = FakeClock()
    scheduler = CollectionScheduler(
        [Scheduled(CountingCollector("a"), 5.0), Scheduled(CountingCollector("b"), 3.0)],
        base_interval=2.0,
        clock=clock,
    )
    scheduler.run_due()
    assert scheduler.next_due() == clock.now + 3.0


def test_after_a_stall_the_cadence_restarts_instead_of_bursting() -> None:
    clock = FakeClock()
    collector = CountingCollector("a")
    scheduler = CollectionScheduler([Scheduled(collector, 1.0)], base_interval=1.0, clock=clock)
    scheduler.run_due()
    clock.now += 60.0  # e.g. the machine was suspended
    scheduler.run_due()
    scheduler.run_due()
    assert collector.calls == 2


def test_run_collector_times_the_call() -> None:
    ticks = iter([10.0, 10.25])
    result = run_collector(CountingCollector("a"), clock=lambda: next(ticks))
    assert result.success
    assert result.duration_seconds == 0.25
