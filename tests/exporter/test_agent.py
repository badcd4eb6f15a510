"""The agent loop: snapshots every interval to every sink, self-health, isolation, clean stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from conventions.naming import Kind
from conventions.report_schema import load_report_schema
from exporter.agent import Agent, build_sinks
from exporter.agent_health import AgentHealth
from exporter.collectors.base import Collector, CollectorOutput
from exporter.config import load_config
from exporter.json_report import AgentInfo, batch_document
from exporter.model import Metric, Point, ProcessInfo, Snapshot

SCHEMA = load_report_schema()


class RecordingSink:
    def __init__(self, name: str = "recording", fail_submit: bool = False) -> None:
        self.name = name
        self.fail_submit = fail_submit
        self.snapshots: list[Snapshot] = []
        self.started = False
        self.shutdown_deadline: float | None = None

    def start(self) -> None:
        self.started = True

    def submit(self, snapshot: Snapshot) -> None:
        if self.fail_submit:
            raise RuntimeError("sink is broken")
        self.snapshots.append(snapshot)

    def shutdown(self, deadline_seconds: float) -> None:
        self.shutdown_deadline = deadline_seconds


class RichCollector:
    """Every metric kind, odd attributes, a process row and a NaN the encoder must drop."""

    name = "rich"

    def collect(self) -> CollectorOutput:
        nan, inf = float("nan"), float("inf")
        return CollectorOutput(
            metrics=[
                Metric("system.cpu.time", "s", Kind.COUNTER, "", [Point(12.5, {"cpu.mode": "u"})]),
                Metric("system.memory.usage", "By", Kind.UPDOWN, "", [Point(1024.0)]),
                Metric("system.cpu.utilization", "1", Kind.GAUGE, "", [Point(0.5), Point(nan)]),
                Metric("system.linux.load", "{thread}", Kind.GAUGE, "", [Point(inf)]),
            ],
            processes=[ProcessInfo(1, 42, "python3 -c 'x'", 0.25, 1 << 20, 1 << 21, 3, None, 1, 7)],
        )


class Exploding:
    name = "exploding"

    def collect(self) -> CollectorOutput:
        raise ValueError("boom")


@dataclass
class Scheduled:
    collector: Collector
    interval: float | None = None


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def make_agent(sinks: list[RecordingSink], health: AgentHealth | None = None) -> Agent:
    return Agent(
        scheduled=[Scheduled(RichCollector()), Scheduled(Exploding())],
        sinks=sinks,
        host_name="agent-test",
        host_id="id-1",
        interval=0.05,
        shutdown_deadline=2.0,
        health=health,
        report_push_health=True,
    )


def test_every_sink_gets_snapshots_until_stop_even_if_another_sink_fails() -> None:
    good, bad = RecordingSink("good"), RecordingSink("bad", fail_submit=True)
    agent = make_agent([bad, good])
    runner = threading.Thread(target=agent.run)
    runner.start()
    wait_for(lambda: len(good.snapshots) >= 3, 20, "three snapshots")
    agent.stop()
    runner.join(timeout=20)
    assert not runner.is_alive()
    assert good.started
    assert bad.started
    assert good.shutdown_deadline is not None
    assert 0 < good.shutdown_deadline <= 2.0
    results = {r.collector: r for r in good.snapshots[-1].results}
    assert results["rich"].success
    assert not results["exploding"].success
    assert results["agent"].success
    stamps = [s.timestamp for s in good.snapshots]
    assert stamps == sorted(stamps)


def test_agent_health_metrics_ride_along() -> None:
    health = AgentHealth()
    health.add_dropped(3)
    health.add_sent(10)
    health.add_send_failure()
    health.set_buffered(4)
    snapshot = make_agent([], health).collect_once()
    (agent_result,) = [r for r in snapshot.results if r.collector == "agent"]
    values = {m.name: (m.kind, m.points[0].value) for m in agent_result.metrics}
    assert values == {
        "hostpulse.agent.reports.buffered": (Kind.UPDOWN, 4.0),
        "hostpulse.agent.reports.dropped": (Kind.COUNTER, 3.0),
        "hostpulse.agent.reports.sent": (Kind.COUNTER, 10.0),
        "hostpulse.agent.send.failures": (Kind.COUNTER, 1.0),
    }


def test_every_report_the_agent_produces_validates_against_the_schema() -> None:
    agent = make_agent([])
    snapshots = [agent.collect_once() for _ in range(3)]
    batch = batch_document(AgentInfo("0.1.0", "instance-1"), snapshots, first_seq=41)
    jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(batch)
    assert [r["seq"] for r in batch["reports"]] == [41, 42, 43]
    rich = batch["reports"][0]["metrics"]
    utilization = next(m for m in rich if m["name"] == "system.cpu.utilization")
    assert utilization["points"] == [{"attributes": {}, "value": 0.5}]  # the NaN is gone
    assert "system.linux.load" not in {m["name"] for m in rich}  # no finite point left


def test_build_sinks_imports_only_enabled_outputs(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    none = load_config(overrides={"prometheus": {"enabled": False}}).options()
    assert build_sinks(none, host_name="h", host_id="i", health=AgentHealth()) == []
    push_only = load_config(
        overrides={
            "prometheus": {"enabled": False},
            "json_push": {"enabled": True, "token_file": str(token)},
        }
    ).options()
    sinks = build_sinks(push_only, host_name="h", host_id="i", health=AgentHealth())
    assert [s.name for s in sinks] == ["json_push"]


class SlowToStopSink(RecordingSink):
    def shutdown(self, deadline_seconds: float) -> None:
        super().shutdown(deadline_seconds)
        time.sleep(deadline_seconds)  # like an OTLP exporter retrying a dead endpoint


def test_every_sink_gets_the_whole_shutdown_deadline() -> None:
    slow, last = SlowToStopSink("slow"), RecordingSink("last")
    agent = make_agent([slow, last])
    runner = threading.Thread(target=agent.run)
    runner.start()
    wait_for(lambda: len(last.snapshots) >= 1, 20, "a snapshot")
    agent.stop()
    runner.join(timeout=20)
    assert last.shutdown_deadline is not None
    assert last.shutdown_deadline > 1.0, "a slow output must not use up the others' flush time"
