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
from exporter.collectors.registry import build_collectors
from exporter.config import AgentConfig
from exporter.procfs.files import ProcfsFormatError
from exporter.procfs.netdev import net_dev_path, parse_net_dev
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


NODE_NET_DEV = (
    "Inter-|   Receive                            |  Transmit\n"
    " face |bytes    packets errs drop fifo frame |bytes    packets errs drop fifo colls\n"
    "    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n"
    "  ens3: 7000 70 0 0 0 0 0 0 8000 80 0 0 0 0 0 0\n"
    "docker0: 1 1 0 0 0 0 0 0 2 2 0 0 0 0 0 0\n"
)


def interfaces(collector: NetworkCollector) -> set[str]:
    io = collector.collect().metrics[0]
    return {p.attributes["network.interface.name"] for p in io.points}


@pytest.fixture
def node_procfs(tmp_path: Path) -> Path:
    """A node's /proc as the agent's container sees it at /host/proc with the node's PID
    namespace shared: net/dev is the pod's own namespace (eth0, lo), 1/net/dev the node's."""
    procfs = install_snapshot(tmp_path / "proc", "t0")
    (procfs / "1" / "net").mkdir()
    (procfs / "1" / "net" / "dev").write_text(NODE_NET_DEV)
    return procfs


def test_auto_reports_the_nodes_interfaces_from_pid_1(node_procfs: Path) -> None:
    assert interfaces(NetworkCollector.from_procfs(node_procfs)) == {"lo", "ens3", "docker0"}
    assert net_dev_path(node_procfs, "auto") == node_procfs / "1" / "net" / "dev"


def test_auto_falls_back_to_its_own_namespace_when_pid_1_is_unreadable(tmp_path: Path) -> None:
    procfs = install_snapshot(tmp_path / "proc", "t0")  # no 1/net/dev (e.g. hidepid, no hostPID)
    assert interfaces(NetworkCollector.from_procfs(procfs, "auto")) == {"lo", "eth0"}


def test_self_and_pid1_are_obeyed(node_procfs: Path) -> None:
    assert interfaces(NetworkCollector.from_procfs(node_procfs, "self")) == {"lo", "eth0"}
    assert interfaces(NetworkCollector.from_procfs(node_procfs, "pid1")) == {
        "lo",
        "ens3",
        "docker0",
    }


def test_the_setting_reaches_the_collector_through_the_config(node_procfs: Path) -> None:
    config = AgentConfig.model_validate(
        {"procfs": str(node_procfs), "collectors": {"network": {"namespace": "self"}}}
    )
    network = next(
        s.collector for s in build_collectors(config.options()) if s.collector.name == "network"
    )
    assert isinstance(network, NetworkCollector)
    assert interfaces(network) == {"lo", "eth0"}
    with pytest.raises(ValueError, match=r"namespace"):
        AgentConfig.model_validate({"collectors": {"network": {"namespace": "host"}}})
