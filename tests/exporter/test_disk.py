"""Disks: which devices are reported, bytes from sectors, psutil fallback."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest

from conventions.naming import Kind
from exporter.collectors.disk import DiskCollector, disk_stats_from_psutil
from exporter.procfs.diskstats import is_reported_device, parse_diskstats
from exporter.procfs.files import ProcfsFormatError
from tests.exporter.fixtures.fake_procfs import install_snapshot


@pytest.mark.parametrize(
    ("device", "reported"),
    [
        ("sda", True),
        ("vda", True),
        ("nvme0n1", True),
        ("dm-0", True),
        ("md127", True),
        ("mmcblk0", True),
        ("sda1", False),
        ("vda15", False),
        ("nvme0n1p1", False),
        ("mmcblk0p2", False),
        ("loop7", False),
        ("ram0", False),
        ("zram0", False),
    ],
)
def test_device_rule(device: str, reported: bool) -> None:
    assert is_reported_device(device) is reported


def test_parse_counts_bytes_from_512_byte_sectors() -> None:
    (disk,) = parse_diskstats(" 254 0 vda 1000 10 20000 500 2000 20 40000 900 0 1000 1400\n")
    assert (disk.device, disk.reads, disk.writes) == ("vda", 1000, 2000)
    assert (disk.read_bytes, disk.write_bytes) == (20000 * 512, 40000 * 512)


def test_parse_rejects_short_lines() -> None:
    with pytest.raises(ProcfsFormatError, match="too few fields"):
        parse_diskstats(" 254 0 vda 1 2 3\n")


def test_collector_on_fake_proc(tmp_path: Path) -> None:
    metrics = {
        m.name: m
        for m in DiskCollector.from_procfs(install_snapshot(tmp_path, "t1")).collect().metrics
    }
    io = metrics["system.disk.io"]
    assert (io.unit, io.kind) == ("By", Kind.COUNTER)
    by_device = {
        (p.attributes["system.device"], p.attributes["disk.io.direction"]): p.value
        for p in io.points
    }
    assert set(by_device) == {
        (d, rw) for d in ("vda", "nvme0n1", "dm-0") for rw in ("read", "write")
    }
    assert by_device[("vda", "write")] == 41000 * 512
    ops = {
        (p.attributes["system.device"], p.attributes["disk.io.direction"]): p.value
        for p in metrics["system.disk.operations"].points
    }
    assert ops[("vda", "read")] == 1010


DiskCounters = namedtuple(
    "DiskCounters", "read_count write_count read_bytes write_bytes read_time write_time"
)


def test_psutil_fallback_applies_the_same_rule() -> None:
    stats = disk_stats_from_psutil(
        {"sda": DiskCounters(1, 2, 512, 1024, 0, 0), "sda1": DiskCounters(1, 2, 512, 1024, 0, 0)}
    )
    assert [(s.device, s.reads, s.write_bytes) for s in stats] == [("sda", 1, 1024)]


def test_live_disks_are_reported() -> None:
    metrics = DiskCollector.from_procfs(Path("/proc")).collect().metrics
    devices = {p.attributes["system.device"] for p in metrics[0].points}
    assert not any(d.startswith("loop") for d in devices)
