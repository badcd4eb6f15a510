"""The push format: exact JSON for a known snapshot, bounds, and the schema itself."""

from __future__ import annotations

import jsonschema
import orjson
import pytest

from conventions.naming import Kind
from conventions.report_schema import load_report_schema
from exporter.json_report import (
    AgentInfo,
    encode_batch,
    encode_report,
    rfc3339,
    snapshot_to_report,
)
from exporter.model import CollectorResult, Metric, Point, ProcessInfo, Snapshot

SCHEMA = load_report_schema()
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
AGENT = AgentInfo(version="0.1.0", instance_id="3f2c")


def contract_snapshot() -> Snapshot:
    """The example of the shared contract (issue 2 / backend), as a Snapshot."""
    cpu = Metric(
        "system.cpu.utilization", "1", Kind.GAUGE, "", [Point(0.12, {"cpu.logical_number": "0"})]
    )
    process = ProcessInfo(1, 123, "python3", 0.5, 1048576, 2097152, 3, None, None, None)
    return Snapshot(
        timestamp=1795752000.123,  # 2026-11-27T04:00:00.123Z
        host_name="web-1",
        host_id="0f1e2d",
        results=[CollectorResult("cpu", [cpu], 0.0012, True, processes=[process])],
    )


def test_the_contract_example_is_produced_exactly() -> None:
    batch = orjson.loads(encode_batch(AGENT, [encode_report(contract_snapshot(), 17)]))
    assert batch == {
        "schema_version": 1,
        "agent": {"name": "hostpulse-exporter", "version": "0.1.0", "instance_id": "3f2c"},
        "reports": [
            {
                "seq": 17,
                "timestamp": "2026-11-27T04:00:00.123Z",
                "host": {"name": "web-1", "id": "0f1e2d"},
                "metrics": [
                    {
                        "name": "system.cpu.utilization",
                        "unit": "1",
                        "type": "gauge",
                        "points": [{"attributes": {"cpu.logical_number": "0"}, "value": 0.12}],
                    }
                ],
                "processes": [
                    {
                        "rank": 1,
                        "pid": 123,
                        "name": "python3",
                        "cpu_utilization": 0.5,
                        "memory_rss_bytes": 1048576,
                        "memory_virtual_bytes": 2097152,
                        "threads": 3,
                        "disk_read_bytes": None,
                        "disk_write_bytes": None,
                        "open_fds": None,
                    }
                ],
                "collectors": [{"name": "cpu", "duration_seconds": 0.0012, "success": True}],
            }
        ],
    }
    VALIDATOR.validate(batch)


def test_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(extra=1),
        lambda b: b.update(schema_version=2),
        lambda b: b["reports"][0].update(seq=0),
        lambda b: b["reports"][0].update(timestamp="yesterday"),
        lambda b: b["reports"][0]["metrics"][0].update(type="histogram"),
        lambda b: b["reports"][0]["metrics"][0]["points"][0].update(value="1"),
        lambda b: b["reports"][0]["metrics"][0]["points"][0]["attributes"].update(cpu=0),
        lambda b: b["reports"][0]["processes"][0].pop("open_fds"),
        lambda b: b.update(reports=[]),
        lambda b: b.update(reports=b["reports"] * 1001),
    ],
)
def test_schema_rejects_what_the_contract_forbids(mutate: object) -> None:
    batch = orjson.loads(encode_batch(AGENT, [encode_report(contract_snapshot(), 1)]))
    assert callable(mutate)
    mutate(batch)
    assert not VALIDATOR.is_valid(batch)


def test_values_are_trimmed_to_the_schema_bounds() -> None:
    wide = Metric(
        "wide", "1", Kind.GAUGE, "", [Point(1.0, {f"a{i}": "v" * 2000 for i in range(65)})]
    )
    long = Metric("long", "1", Kind.GAUGE, "", [Point(float(i)) for i in range(1001)])
    small = Metric("small", "1", Kind.GAUGE, "", [Point(1.0)])
    results = [CollectorResult("c", [wide, long] + [small] * 2000, 0.1, True)]
    report = snapshot_to_report(Snapshot(1.0, "h", "i", results), 1)
    assert len(report["metrics"]) == 2000
    attributes = report["metrics"][0]["points"][0]["attributes"]
    assert len(attributes) == 64
    assert max(len(v) for v in attributes.values()) == 1024
    assert len(report["metrics"][1]["points"]) == 1000
    agent = {"name": "a", "version": "1", "instance_id": "i"}
    VALIDATOR.validate({"schema_version": 1, "agent": agent, "reports": [report]})


def test_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1795752000.5) == "2026-11-27T04:00:00.500Z"
