"""OTel names rendered the Prometheus way, as conventions.md lays out."""

from __future__ import annotations

import pytest

from conventions.naming import Kind, prometheus_label_name, prometheus_metric_name


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("system.cpu.time", "s", Kind.COUNTER, "system_cpu_time_seconds_total"),
        ("system.cpu.utilization", "1", Kind.GAUGE, "system_cpu_utilization_ratio"),
        ("system.memory.usage", "By", Kind.UPDOWN, "system_memory_usage_bytes"),
        ("system.disk.io", "By", Kind.COUNTER, "system_disk_io_bytes_total"),
        ("system.disk.operations", "{operation}", Kind.COUNTER, "system_disk_operations_total"),
        (
            "system.network.packet.count",
            "{packet}",
            Kind.COUNTER,
            "system_network_packet_count_total",
        ),
        ("system.uptime", "s", Kind.GAUGE, "system_uptime_seconds"),
        ("process.cpu.utilization", "1", Kind.GAUGE, "process_cpu_utilization_ratio"),
        # promtool reserves `_count` for histograms/summaries: gauges take the plural unit instead.
        ("system.process.count", "{process}", Kind.UPDOWN, "system_processes"),
        ("process.thread.count", "{thread}", Kind.UPDOWN, "process_threads"),
        (
            "process.unix.file_descriptor.count",
            "{file_descriptor}",
            Kind.UPDOWN,
            "process_unix_file_descriptors",
        ),
        ("system.cpu.logical.count", "{cpu}", Kind.UPDOWN, "system_cpu_logical_cpus"),
        ("queue.count", "", Kind.GAUGE, "queue_number"),
        ("odd-name.with spaces", "By", Kind.GAUGE, "odd_name_with_spaces_bytes"),
        ("already_seconds", "s", Kind.GAUGE, "already_seconds"),
    ],
)
def test_metric_names(name: str, unit: str, kind: Kind, expected: str) -> None:
    assert prometheus_metric_name(name, unit, kind) == expected


def test_label_names() -> None:
    assert prometheus_label_name("cpu.logical_number") == "cpu_logical_number"
    assert prometheus_label_name("9lives") == "key_9lives"
    assert prometheus_label_name("process.executable.name") == "process_executable_name"
