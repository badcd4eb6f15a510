"""Network bytes, packets, errors and drops per interface from /proc/net/dev (psutil elsewhere).

Which namespace's interfaces (the node's or the agent's own) is `collectors.network.namespace`,
resolved once at start by `exporter.procfs.netdev.net_dev_path`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from conventions.naming import Kind
from exporter.collectors.base import CollectorOutput
from exporter.model import Metric, Point
from exporter.procfs.netdev import InterfaceStat, net_dev_path, read_net_dev


def network_metrics(interfaces: list[InterfaceStat]) -> list[Metric]:
    io, packets, errors, dropped = [], [], [], []
    for nic in interfaces:
        rx = {"network.interface.name": nic.interface, "network.io.direction": "receive"}
        tx = {"network.interface.name": nic.interface, "network.io.direction": "transmit"}
        io += [Point(nic.receive_bytes, rx), Point(nic.transmit_bytes, tx)]
        packets += [Point(nic.receive_packets, rx), Point(nic.transmit_packets, tx)]
        errors += [Point(nic.receive_errors, rx), Point(nic.transmit_errors, tx)]
        dropped += [Point(nic.receive_dropped, rx), Point(nic.transmit_dropped, tx)]
    return [
        Metric("system.network.io", "By", Kind.COUNTER, "Bytes received and sent.", io),
        Metric(
            "system.network.packet.count",
            "{packet}",
            Kind.COUNTER,
            "Packets received and sent.",
            packets,
        ),
        Metric(
            "system.network.errors", "{error}", Kind.COUNTER, "Receive and transmit errors.", errors
        ),
        Metric(
            "system.network.dropped",
            "{packet}",
            Kind.COUNTER,
            "Packets dropped on receive and transmit.",
            dropped,
        ),
    ]


def interface_stats_from_psutil(per_nic: Mapping[str, Any]) -> list[InterfaceStat]:
    """InterfaceStats from psutil `net_io_counters(pernic=True)` namedtuples."""
    return [
        InterfaceStat(
            interface=name,
            receive_bytes=int(c.bytes_recv),
            receive_packets=int(c.packets_recv),
            receive_errors=int(c.errin),
            receive_dropped=int(c.dropin),
            transmit_bytes=int(c.bytes_sent),
            transmit_packets=int(c.packets_sent),
            transmit_errors=int(c.errout),
            transmit_dropped=int(c.dropout),
        )
        for name, c in sorted(per_nic.items())
    ]


def read_psutil_interface_stats() -> list[InterfaceStat]:
    import psutil  # only off Linux: the procfs path never loads it

    return interface_stats_from_psutil(psutil.net_io_counters(pernic=True))


class NetworkCollector:
    name = "network"

    def __init__(self, read_stats: Callable[[], list[InterfaceStat]]) -> None:
        self._read_stats = read_stats

    @classmethod
    def from_procfs(cls, procfs: Path, namespace: str = "auto") -> NetworkCollector:
        path = net_dev_path(procfs, namespace)
        return cls(lambda: read_net_dev(path))

    @classmethod
    def from_psutil(cls) -> NetworkCollector:
        return cls(read_psutil_interface_stats)

    def collect(self) -> CollectorOutput:
        return CollectorOutput(metrics=network_metrics(self._read_stats()))
