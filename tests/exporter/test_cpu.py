"""CPU: the /proc/stat parser, utilization math over two snapshots, psutil fallback, live host."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest

from conventions.naming import Kind
from exporter.collectors.cpu import CpuCollector, cpu_metrics, cpu_stat_from_psutil
from exporter.model import Metric
from exporter.procfs.cpu_stat import CpuStat, count_logical_cpus, parse_cpu_stat, read_cpu_stat
from exporter.procfs.files import ProcfsFormatError
from tests.exporter.fixtures.fake_procfs import install_snapshot

STAT = """cpu  1000 20 500 8000 100 7 50 3 40 0
cpu0 500 10 250 4000 50 3 25 1 20 0
cpu1 500 10 250 4000 50 4 25 2 20 0
intr 12345 0 0
procs_running 2
"""


def by_name(metrics: list[Metric]) -> dict[str, Metric]:
    return {m.name: m for m in metrics}


def test_parse_converts_ticks_to_seconds_and_ignores_guest() -> None:
    stat = parse_cpu_stat(STAT, ticks_per_second=100)
    assert stat.total == {
        "user": 10.0,
        "nice": 0.2,
        "system": 5.0,
        "idle": 80.0,
        "iowait": 1.0,
        "interrupt": 0.07,
        "softirq": 0.5,
        "steal": 0.03,
    }
    assert sorted(stat.per_cpu) == [0, 1]
    assert stat.per_cpu[1]["interrupt"] == pytest.approx(0.04)
    assert count_logical_cpus(STAT) == 2


def test_parse_rejects_a_file_without_cpu_line() -> None:
    with pytest.raises(ProcfsFormatError, match="no 'cpu' line"):
        parse_cpu_stat("intr 1 2 3\n")


def test_utilization_over_two_snapshots(tmp_path: Path) -> None:
    procfs = install_snapshot(tmp_path / "proc", "t0")
    collector = CpuCollector.from_procfs(procfs)
    collector.collect()
    install_snapshot(procfs, "t1")
    metrics = by_name(list(collector.collect().metrics))

    points = {
        tuple(sorted(p.attributes.items())): p.value
        for p in metrics["system.cpu.utilization"].points
    }
    # t0 -> t1: 200 ticks in all: user +70, system +30, idle +95, iowait +5.
    assert points[(("cpu.mode", "user"),)] == pytest.approx(0.35)
    assert points[(("cpu.mode", "system"),)] == pytest.approx(0.15)
    assert points[(("cpu.mode", "idle"),)] == pytest.approx(0.475)
    assert points[(("cpu.mode", "iowait"),)] == pytest.approx(0.025)
    # Per core busy share: cpu0 spent 20 of 100 ticks idle or waiting, cpu1 80 of 100.
    assert points[(("cpu.logical_number", "0"),)] == pytest.approx(0.8)
    assert points[(("cpu.logical_number", "1"),)] == pytest.approx(0.2)
    assert metrics["system.cpu.utilization"].kind is Kind.GAUGE


def test_cpu_time_is_a_counter_per_core_and_mode(tmp_path: Path) -> None:
    metric = by_name(
        list(CpuCollector.from_procfs(install_snapshot(tmp_path, "t0")).collect().metrics)
    )["system.cpu.time"]
    assert (metric.unit, metric.kind) == ("s", Kind.COUNTER)
    values = {
        (p.attributes["cpu.logical_number"], p.attributes["cpu.mode"]): p.value
        for p in metric.points
    }
    assert values[("0", "user")] == 5.0
    assert values[("1", "idle")] == 40.0
    assert len(values) == 2 * 8


def test_first_cycle_reports_the_average_since_boot() -> None:
    stat = parse_cpu_stat(STAT)
    util = by_name(cpu_metrics(None, stat))["system.cpu.utilization"]
    total = sum(p.value for p in util.points if "cpu.mode" in p.attributes)
    assert total == pytest.approx(1.0)
    idle = next(p.value for p in util.points if p.attributes.get("cpu.mode") == "idle")
    assert idle == pytest.approx(80.0 / sum(stat.total.values()))


def test_counter_reset_falls_back_to_since_reset_values_and_never_goes_negative() -> None:
    before = parse_cpu_stat(STAT)
    after_reset = CpuStat(
        total={"user": 1.0, "system": 1.0, "idle": 2.0}, per_cpu={0: {"user": 1.0, "idle": 1.0}}
    )
    util = by_name(cpu_metrics(before, after_reset))["system.cpu.utilization"]
    values = {tuple(p.attributes.items()): p.value for p in util.points}
    assert values[(("cpu.mode", "idle"),)] == pytest.approx(0.5)
    assert values[(("cpu.logical_number", "0"),)] == pytest.approx(0.5)
    assert all(0.0 <= p.value <= 1.0 for p in util.points)


def test_iowait_stepping_back_is_clamped() -> None:
    before = CpuStat(total={"user": 10.0, "idle": 10.0, "iowait": 5.0})
    after = CpuStat(total={"user": 11.0, "idle": 11.0, "iowait": 4.9})
    util = by_name(cpu_metrics(before, after))["system.cpu.utilization"]
    values = {p.attributes["cpu.mode"]: p.value for p in util.points}
    assert values == {"user": pytest.approx(0.5), "idle": pytest.approx(0.5), "iowait": 0.0}


PsutilTimes = namedtuple(
    "PsutilTimes", "user nice system idle iowait irq softirq steal guest guest_nice"
)
MacTimes = namedtuple("MacTimes", "user nice system idle")


def test_psutil_fallback_maps_field_names() -> None:
    total = PsutilTimes(10.0, 0.0, 5.0, 80.0, 1.0, 0.5, 0.25, 0.0, 0.0, 0.0)
    stat = cpu_stat_from_psutil(total, [total, total])
    assert stat.total["interrupt"] == 0.5
    assert "guest" not in stat.total
    assert sorted(stat.per_cpu) == [0, 1]
    mac = cpu_stat_from_psutil(MacTimes(1.0, 0.0, 1.0, 2.0), [])
    assert mac.total == {"user": 1.0, "nice": 0.0, "system": 1.0, "idle": 2.0}


def test_psutil_collector_runs_on_this_host() -> None:
    collector = CpuCollector.from_psutil()
    collector.collect()
    metrics = by_name(list(collector.collect().metrics))
    assert metrics["system.cpu.time"].points
    assert all(0.0 <= p.value <= 1.0 for p in metrics["system.cpu.utilization"].points)


def test_live_cpu_time_matches_proc_stat() -> None:
    """Total CPU seconds agree with a direct read of /proc/stat taken right after.

    Tolerance: the two reads are microseconds apart, but counters tick at 100 Hz on every core,
    so allow 0.5 s of CPU per core."""
    metric = by_name(list(CpuCollector.from_procfs(Path("/proc")).collect().metrics))[
        "system.cpu.time"
    ]
    direct = read_cpu_stat(Path("/proc"))
    for cpu, times in direct.per_cpu.items():
        collected = sum(
            p.value for p in metric.points if p.attributes["cpu.logical_number"] == str(cpu)
        )
        assert collected == pytest.approx(sum(times.values()), abs=0.5)
