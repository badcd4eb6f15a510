"""/proc/net/dev: bytes, packets, errors and drops per network interface."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exporter.procfs.files import ProcfsFormatError, read_text


@dataclass(frozen=True, slots=True)
class InterfaceStat:
    interface: str
    receive_bytes: int
    receive_packets: int
    receive_errors: int
    receive_dropped: int
    transmit_bytes: int
    transmit_packets: int
    transmit_errors: int
    transmit_dropped: int


def parse_net_dev(text: str) -> list[InterfaceStat]:
    """Every interface line (`name: 16 numbers`); the two header lines have no numbers after ':'."""
    interfaces = []
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep or "|" in line:
            continue
        values = rest.split()
        if len(values) < 16:
            raise ProcfsFormatError(f"/proc/net/dev: interface {name.strip()!r} has too few fields")
        v = [int(x) for x in values[:16]]
        interfaces.append(
            InterfaceStat(
                interface=name.strip(),
                receive_bytes=v[0],
                receive_packets=v[1],
                receive_errors=v[2],
                receive_dropped=v[3],
                transmit_bytes=v[8],
                transmit_packets=v[9],
                transmit_errors=v[10],
                transmit_dropped=v[11],
            )
        )
    return interfaces


def read_net_dev(procfs: Path) -> list[InterfaceStat]:
    return parse_net_dev(read_text(procfs / "net" / "dev"))
