"""Network: the /proc/net/dev parser, metrics per interface and direction, psutil fallback."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest

from conventions.naming import Kind
from exporter.collectors.network import (
    NetworkCollector,
    interface_stats_from_psutil,
    network_metrics,
)
from exporter.procfs.files import ProcfsFormatError
from exporter.procfs.netdev import parse_net_dev
from tests.exporter.fixtures.fake_procfs import install_snapshot

NET_DEV = (
    "Inter-|   Receive                            |  Transmit\n"
    " face |bytes    packets errs drop fifo frame |bytes    packets errs drop fifo colls\n"
    "    lo: 44351 609 0 0 0 0 0 0 44351 609 0 0 0 0 0 0\n"
    "  eth0:259325806 8094 1 2 0 0 0 0 495655 4567 3 4 0 0 0 0\n"
)


def test_parse_handles_numbers_glued_to_the_colon() -> None:
    lo, eth0 = parse_net_dev(NET_DEV)
    assert lo.interface == "lo"
    assert (eth0.interface, eth0.receive_bytes, eth0.receive_errors, eth0.receive_dropped) == (
        "eth0",
        259325806,
        1,
        2,
    )
    assert (
        eth0.transmit_bytes,
        eth0.transmit_packets,
        eth0.transmit_errors,
        eth0.transmit_dropped,
    ) == (495655, 4567, 3, 4)


def test_parse_rejects_truncated_lines() -> None:
    with pytest.raises(ProcfsFormatError, match="eth0"):
        parse_net_dev("  eth0: 1 2 3\n")


def test_collector_on_fake_proc(tmp_path: Path) -> None:
    metrics = {
        m.name: m
        for m in NetworkCollector.from_procfs(install_snapshot(tmp_path, "t0")).collect().metrics
    }
    io = metrics["system.network.io"]
    assert (io.unit, io.kind) == ("By", Kind.COUNTER)
    values = {
        (p.attributes["network.interface.name"], p.attributes["network.io.direction"]): p.value
        for p in io.points
    }
    assert values == {
        ("lo", "receive"): 5000,
        ("lo", "transmit"): 5000,
        ("eth0", "receive"): 100000,
        ("eth0", "transmit"): 20000,
    }
    errors = {
        (p.attributes["network.interface.name"], p.attributes["network.io.direction"]): p.value
        for p in metrics["system.network.errors"].points
    }
    assert errors[("eth0", "receive")] == 3
    assert set(metrics) == {
        "system.network.io",
        "system.network.packet.count",
        "system.network.errors",
        "system.network.dropped",
    }


NicCounters = namedtuple(
    "NicCounters", "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout"
)


def test_psutil_fallback() -> None:
    (nic,) = interface_stats_from_psutil({"en0": NicCounters(10, 20, 1, 2, 3, 4, 5, 6)})
    assert (nic.receive_bytes, nic.transmit_bytes, nic.receive_errors, nic.transmit_dropped) == (
        20,
        10,
        3,
        6,
    )
    assert len(network_metrics([nic])[0].points) == 2


def test_live_loopback_is_reported() -> None:
    metrics = NetworkCollector.from_procfs(Path("/proc")).collect().metrics
    assert "lo" in {p.attributes["network.interface.name"] for p in metrics[0].points}
