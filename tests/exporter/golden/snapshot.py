"""The fixed, hand-built Snapshot `exposition.prom` is generated from (OTLP tests use it too)."""

from __future__ import annotations

from conventions.naming import Kind
from exporter.model import CollectorResult, Metric, Point, ProcessInfo, Snapshot

HOST_NAME = "web-1"
HOST_ID = "4f1c2a9e0d6b4c3a8e7f5d2c1b0a9f8e"
SERVICE_VERSION = "1.2.3"

# Names met in the wild: quotes, a backslash, a newline and non-ASCII must all survive.
TRICKY_PROCESS_NAME = 'we"ird\\proc\nname-日本'


def _process_points(values: list[float], extra: dict[str, str] | None = None) -> list[Point]:
    names = ["postgres", TRICKY_PROCESS_NAME]
    return [
        Point(
            value,
            {
                "rank": str(rank),
                "process.pid": str(1000 + rank),
                "process.executable.name": names[rank - 1],
                **(extra or {}),
            },
        )
        for rank, value in enumerate(values, start=1)
    ]


def golden_snapshot() -> Snapshot:
    cpu = CollectorResult(
        collector="cpu",
        duration_seconds=0.0012,
        success=True,
        metrics=[
            Metric(
                "system.cpu.time",
                "s",
                Kind.COUNTER,
                "Seconds each logical CPU spent on each mode.",
                [
                    Point(1234.5, {"cpu.mode": "user", "cpu.logical_number": "0"}),
                    Point(99.25, {"cpu.mode": "system", "cpu.logical_number": "0"}),
                    Point(1200.0, {"cpu.mode": "user", "cpu.logical_number": "1"}),
                    Point(101.75, {"cpu.mode": "system", "cpu.logical_number": "1"}),
                ],
            ),
            Metric(
                "system.cpu.utilization",
                "1",
                Kind.GAUGE,
                "Fraction of CPU time spent busy, per mode and per core.",
                [
                    Point(0.25, {"cpu.mode": "user"}),
                    Point(0.05, {"cpu.mode": "system"}),
                    Point(0.4, {"cpu.logical_number": "0"}),
                    Point(0.2, {"cpu.logical_number": "1"}),
                ],
            ),
        ],
    )
    memory = CollectorResult(
        collector="memory",
        duration_seconds=0.0004,
        success=True,
        metrics=[
            Metric(
                "system.memory.usage",
                "By",
                Kind.UPDOWN,
                "Bytes of memory in each state.",
                [
                    Point(3_000_000_000, {"system.memory.state": "used"}),
                    Point(1_000_000_000, {"system.memory.state": "free"}),
                ],
            ),
            Metric("system.memory.limit", "By", Kind.UPDOWN, "Total memory.", [Point(8e9)]),
        ],
    )
    processes = CollectorResult(
        collector="processes",
        duration_seconds=0.008,
        success=True,
        metrics=[
            # An empty description: the HELP line falls back to the OTel name and unit.
            Metric("system.process.count", "{process}", Kind.UPDOWN, "", [Point(312)]),
            Metric(
                "process.cpu.utilization",
                "1",
                Kind.GAUGE,
                "Share of the whole machine's CPU the process used.",
                _process_points([0.5, 0.125]),
            ),
            Metric(
                "process.cpu.time",
                "s",
                Kind.COUNTER,
                "Seconds of CPU the process used.",
                _process_points([42.0, 7.5], {"cpu.mode": "user"}),
            ),
            Metric(
                "process.memory.usage",
                "By",
                Kind.UPDOWN,
                "Resident memory of the process.",
                _process_points([104857600, 2097152]),
            ),
        ],
        processes=[
            ProcessInfo(1, 1001, "postgres", 0.5, 104857600, 209715200, 8, 4096, 8192, 12),
            ProcessInfo(2, 1002, TRICKY_PROCESS_NAME, 0.125, 2097152, 4194304, 1, None, None, None),
        ],
    )
    network = CollectorResult(
        collector="network",
        duration_seconds=0.0003,
        success=True,
        metrics=[
            Metric(
                "system.network.io",
                "By",
                Kind.COUNTER,
                "Bytes sent and received per interface.",
                [
                    Point(
                        5e6, {"network.interface.name": "eth0", "network.io.direction": "receive"}
                    ),
                    Point(
                        2e6, {"network.interface.name": "eth0", "network.io.direction": "transmit"}
                    ),
                ],
            )
        ],
    )
    disk = CollectorResult(
        collector="disk",
        duration_seconds=0.0001,
        success=False,
        error="PermissionError: /proc/diskstats",
        metrics=[],
    )
    return Snapshot(
        timestamp=1_700_000_000.0,
        host_name=HOST_NAME,
        host_id=HOST_ID,
        results=[cpu, memory, processes, network, disk],
    )
