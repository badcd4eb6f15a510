"""Load average, uptime and logical CPU count; system-wide file handles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conventions.naming import Kind
from exporter.collectors.handles import HandlesCollector
from exporter.collectors.system import SystemCollector
from exporter.procfs.files import ProcfsFormatError
from exporter.procfs.kernel_state import parse_file_nr, parse_loadavg, parse_uptime
from tests.exporter.fixtures.fake_procfs import install_snapshot


def test_parsers() -> None:
    load = parse_loadavg("0.60 0.38 0.19 2/157 9009\n")
    assert (load.one, load.five, load.fifteen) == (0.60, 0.38, 0.19)
    assert parse_uptime("431.32 632.01\n") == 431.32
    handles = parse_file_nr("751\t0\t2466174\n")
    assert (handles.allocated, handles.maximum) == (751, 2466174)


def test_parsers_name_the_file_on_garbage() -> None:
    with pytest.raises(ProcfsFormatError, match="/proc/loadavg"):
        parse_loadavg("1.0\n")
    with pytest.raises(ProcfsFormatError, match="file-nr"):
        parse_file_nr("")


def test_system_collector_on_fake_proc(tmp_path: Path) -> None:
    metrics = {
        m.name: m
        for m in SystemCollector.from_procfs(install_snapshot(tmp_path, "t1")).collect().metrics
    }
    assert metrics["system.cpu.load_average.1m"].points[0].value == 1.5
    assert metrics["system.cpu.load_average.15m"].points[0].value == 0.35
    assert metrics["system.uptime"].points[0].value == 1001.0
    assert (metrics["system.uptime"].unit, metrics["system.uptime"].kind) == ("s", Kind.GAUGE)
    assert metrics["system.cpu.logical.count"].points[0].value == 2


def test_handles_collector_on_fake_proc(tmp_path: Path) -> None:
    metrics = {
        m.name: m
        for m in HandlesCollector.from_procfs(install_snapshot(tmp_path, "t0")).collect().metrics
    }
    assert metrics["system.linux.file_handle.usage"].points[0].value == 1504
    assert metrics["system.linux.file_handle.limit"].points[0].value == 9223372036854775807


def test_handles_without_procfs_report_nothing() -> None:
    assert list(HandlesCollector.from_psutil().collect().metrics) == []


def test_psutil_system_collector_agrees_with_procfs() -> None:
    portable = {m.name: m.points[0].value for m in SystemCollector.from_psutil().collect().metrics}
    linux = {
        m.name: m.points[0].value
        for m in SystemCollector.from_procfs(Path("/proc")).collect().metrics
    }
    assert (
        portable["system.cpu.logical.count"] == linux["system.cpu.logical.count"] == os.cpu_count()
    )
    assert portable["system.uptime"] == pytest.approx(linux["system.uptime"], abs=5)
