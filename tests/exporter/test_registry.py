"""build_collectors: names, enabled flags, intervals, procfs path and the psutil fallback."""

from __future__ import annotations

from pathlib import Path

from exporter.collectors.processes import ProcessesCollector
from exporter.collectors.registry import ScheduledCollector, build_collectors, procfs_available
from exporter.config import AgentConfig
from tests.exporter.fixtures.fake_procfs import install_snapshot


def test_every_collector_by_default_with_the_agent_interval() -> None:
    scheduled = build_collectors(AgentConfig(interval=3).options())
    names = [s.collector.name for s in scheduled]
    assert names == ["cpu", "memory", "processes", "disk", "network", "handles", "system"]
    assert {s.interval for s in scheduled} == {3.0}
    close_all(scheduled)


def test_enabled_and_own_interval_are_honoured() -> None:
    config = AgentConfig.model_validate(
        {
            "interval": "2s",
            "collectors": {
                "disk": {"enabled": False},
                "processes": {"interval": "10s", "top_n": 3},
                "handles": {"enabled": False},
            },
        }
    )
    scheduled = {s.collector.name: s for s in build_collectors(config.options())}
    assert set(scheduled) == {"cpu", "memory", "processes", "network", "system"}
    assert scheduled["processes"].interval == 10.0
    assert scheduled["cpu"].interval == 2.0
    assert len(scheduled["processes"].collector.collect().processes) == 3
    close_all(list(scheduled.values()))


def test_collectors_read_the_configured_procfs(tmp_path: Path) -> None:
    procfs = install_snapshot(tmp_path / "proc", "t1")
    assert procfs_available(procfs)
    options = AgentConfig(procfs=procfs).options()
    scheduled = {s.collector.name: s.collector for s in build_collectors(options)}
    uptime = next(m for m in scheduled["system"].collect().metrics if m.name == "system.uptime")
    assert uptime.points[0].value == 1001.0
    assert {p.pid for p in scheduled["processes"].collect().processes} == {1, 100, 200, 300, 500}
    for collector in scheduled.values():
        if isinstance(collector, ProcessesCollector):
            collector.close()


def test_without_procfs_every_collector_falls_back_to_psutil(tmp_path: Path) -> None:
    assert not procfs_available(tmp_path)
    scheduled = build_collectors(AgentConfig(procfs=tmp_path).options())
    assert len(scheduled) == 7
    for item in scheduled:
        output = item.collector.collect()
        if item.collector.name != "handles":  # psutil has no system-wide handle count
            assert output.metrics, item.collector.name
    close_all(scheduled)


def close_all(scheduled: list[ScheduledCollector]) -> None:
    for item in scheduled:
        if isinstance(item.collector, ProcessesCollector):
            item.collector.close()
