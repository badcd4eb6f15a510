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


def net_dev_path(procfs: Path, namespace: str) -> Path:
    """Which net/dev file shows the interfaces of the wanted network namespace.

    `<procfs>/net` is `self/net`: the reading process's own namespace (a pod's `eth0` and `lo`
    in a container without host networking). `<procfs>/1/net` is PID 1's: with the node's /proc
    mounted at <procfs> and the node's PID namespace shared (`hostPID: true`, `--pid=host`), that
    is the node's init, so the node's interfaces. `auto` takes PID 1's whenever it can be read
    (on a plain host both are the same namespace), else its own.
    """
    own = procfs / "net" / "dev"
    pid1 = procfs / "1" / "net" / "dev"
    if namespace == "self":
        return own
    if namespace == "pid1":
        return pid1
    try:
        read_text(pid1)
    except (OSError, ProcfsFormatError):
        return own
    return pid1


def read_net_dev(path: Path) -> list[InterfaceStat]:
    """The interfaces of one net/dev file (see `net_dev_path`)."""
    return parse_net_dev(read_text(path))
