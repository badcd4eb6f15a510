"""Memory: the /proc/meminfo parser, the metrics a user reads, psutil fallback, live host."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest

from conventions.naming import Kind
from exporter.collectors.memory import MemoryCollector, memory_metrics, memory_stat_from_psutil
from exporter.model import Metric
from exporter.procfs.files import ProcfsFormatError
from exporter.procfs.meminfo import memory_stat_from_meminfo, parse_meminfo, read_memory_stat
from tests.exporter.fixtures.fake_procfs import install_snapshot

KIB = 1024


def by_name(metrics: list[Metric]) -> dict[str, Metric]:
    return {m.name: m for m in metrics}


def values(metric: Metric, attribute: str) -> dict[str, float]:
    return {p.attributes[attribute]: p.value for p in metric.points}


def test_parse_meminfo_in_bytes() -> None:
    parsed = parse_meminfo("MemTotal:  100 kB\nHugePages_Total:   3\nbad line\n")
    assert parsed == {"MemTotal": 100 * KIB, "HugePages_Total": 3}


def test_parse_meminfo_rejects_garbage_values() -> None:
    with pytest.raises(ProcfsFormatError, match="MemTotal"):
        parse_meminfo("MemTotal: lots kB\n")


def test_old_kernels_without_memavailable_get_the_classic_estimate() -> None:
    stat = memory_stat_from_meminfo(
        {"MemTotal": 1000, "MemFree": 100, "Buffers": 50, "Cached": 250}
    )
    assert stat.available == 400
    assert stat.used == 600


def test_metrics_from_fake_proc(tmp_path: Path) -> None:
    procfs = install_snapshot(tmp_path, "t0")
    metrics = by_name(list(MemoryCollector.from_procfs(procfs).collect().metrics))
    usage = metrics["system.memory.usage"]
    assert (usage.unit, usage.kind) == ("By", Kind.UPDOWN)
    assert values(usage, "system.memory.state") == {
        "used": 3_000_000 * KIB,  # MemTotal - MemAvailable
        "free": 2_000_000 * KIB,
        "buffers": 300_000 * KIB,
        "cached": 2_500_000 * KIB,
    }
    assert metrics["system.memory.limit"].points[0].value == 8_000_000 * KIB
    assert metrics["system.memory.utilization"].points[0].value == pytest.approx(3 / 8)
    assert metrics["system.linux.memory.available"].points[0].value == 5_000_000 * KIB
    assert values(metrics["system.paging.usage"], "system.paging.state") == {
        "used": 250_000 * KIB,
        "free": 750_000 * KIB,
    }


VirtualMemory = namedtuple(
    "VirtualMemory", "total available percent used free active inactive buffers cached shared slab"
)
MacVirtualMemory = namedtuple(
    "MacVirtualMemory", "total available percent used free active inactive wired"
)
Swap = namedtuple("Swap", "total used free percent sin sout")


def test_psutil_fallback() -> None:
    vm = VirtualMemory(1000, 600, 40.0, 400, 200, 0, 0, 50, 150, 0, 0)
    stat = memory_stat_from_psutil(vm, Swap(100, 30, 70, 30.0, 0, 0))
    assert (stat.used, stat.free, stat.buffers, stat.cached) == (400, 200, 50, 150)
    assert (stat.swap_used, stat.swap_free) == (30, 70)
    mac = memory_stat_from_psutil(
        MacVirtualMemory(1000, 600, 40.0, 400, 200, 0, 0, 0), Swap(0, 0, 0, 0.0, 0, 0)
    )
    usage = by_name(memory_metrics(mac))["system.memory.usage"]
    assert values(usage, "system.memory.state")["buffers"] == 0


def test_psutil_collector_runs_on_this_host() -> None:
    metrics = by_name(list(MemoryCollector.from_psutil().collect().metrics))
    assert metrics["system.memory.limit"].points[0].value > 0


def test_live_memory_matches_proc_meminfo() -> None:
    """Limit is exact; `used` may move between the two reads, so allow 64 MiB."""
    metrics = by_name(list(MemoryCollector.from_procfs(Path("/proc")).collect().metrics))
    direct = read_memory_stat(Path("/proc"))
    assert metrics["system.memory.limit"].points[0].value == direct.total
    used = values(metrics["system.memory.usage"], "system.memory.state")["used"]
    assert used == pytest.approx(direct.total - direct.available, abs=64 * 1024 * KIB)
    assert 0 < metrics["system.memory.utilization"].points[0].value < 1
