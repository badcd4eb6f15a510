"""Snapshots as the agent's JSON push format, version 1 (`schema/report-v1.schema.json`).

Pure functions: the sink encodes each report once, when it is buffered, and wraps batches of
already-encoded reports at send time without re-parsing them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from exporter.model import Metric, ProcessInfo, Snapshot

SCHEMA_VERSION = 1
AGENT_NAME = "hostpulse-exporter"
# The schema's bounds; the encoder trims to them so a report never fails validation.
MAX_METRICS = 2000
MAX_POINTS = 1000
MAX_ATTRIBUTES = 64
MAX_NAME_LENGTH = 256
MAX_VALUE_LENGTH = 1024
MAX_PROCESSES = 1000
MAX_COLLECTORS = 256


@dataclass(frozen=True, slots=True)
class AgentInfo:
    version: str
    instance_id: str
    name: str = AGENT_NAME


def rfc3339(unix_seconds: float) -> str:
    """`2026-11-27T04:00:00.123Z`: RFC 3339 UTC with milliseconds."""
    moment = datetime.fromtimestamp(unix_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _metric(metric: Metric) -> dict[str, Any] | None:
    points = []
    for point in metric.points:
        if not math.isfinite(point.value):
            continue  # the format allows finite numbers only
        attributes = {
            key[:MAX_NAME_LENGTH]: str(value)[:MAX_VALUE_LENGTH]
            for key, value in list(point.attributes.items())[:MAX_ATTRIBUTES]
        }
        points.append({"attributes": attributes, "value": point.value})
        if len(points) == MAX_POINTS:
            break
    if not points:
        return None
    return {
        "name": metric.name[:MAX_NAME_LENGTH],
        "unit": metric.unit[:MAX_NAME_LENGTH],
        "type": str(metric.kind),
        "points": points,
    }


def _process(process: ProcessInfo) -> dict[str, Any]:
    cpu = max(0.0, process.cpu_utilization) if math.isfinite(process.cpu_utilization) else 0.0
    return {
        "rank": process.rank,
        "pid": process.pid,
        "name": process.name[:MAX_NAME_LENGTH],
        "cpu_utilization": cpu,
        "memory_rss_bytes": process.memory_rss_bytes,
        "memory_virtual_bytes": process.memory_virtual_bytes,
        "threads": process.threads,
        "disk_read_bytes": process.disk_read_bytes,
        "disk_write_bytes": process.disk_write_bytes,
        "open_fds": process.open_fds,
    }


def snapshot_to_report(snapshot: Snapshot, seq: int) -> dict[str, Any]:
    """One report of the push format for a snapshot, numbered `seq`."""
    metrics = []
    for metric in snapshot.metrics():
        encoded = _metric(metric)
        if encoded is not None:
            metrics.append(encoded)
            if len(metrics) == MAX_METRICS:
                break
    return {
        "seq": seq,
        "timestamp": rfc3339(snapshot.timestamp),
        "host": {"name": snapshot.host_name[:MAX_NAME_LENGTH], "id": snapshot.host_id[:256]},
        "metrics": metrics,
        "processes": [_process(p) for p in snapshot.processes()][:MAX_PROCESSES],
        "collectors": [
            {
                "name": result.collector[:MAX_NAME_LENGTH],
                "duration_seconds": max(0.0, result.duration_seconds),
                "success": result.success,
            }
            for result in snapshot.results
        ][:MAX_COLLECTORS],
    }


def encode_report(snapshot: Snapshot, seq: int) -> bytes:
    return orjson.dumps(snapshot_to_report(snapshot, seq))


def encode_batch(agent: AgentInfo, encoded_reports: Sequence[bytes]) -> bytes:
    """The POST body for already-encoded reports (oldest first), without re-serialising them."""
    head = orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "agent": {
                "name": agent.name,
                "version": agent.version,
                "instance_id": agent.instance_id,
            },
        }
    )
    return head[:-1] + b',"reports":[' + b",".join(encoded_reports) + b"]}"


def batch_document(agent: AgentInfo, snapshots: Sequence[Snapshot], first_seq: int = 1) -> Any:
    """A whole batch as plain data (what `--once` prints)."""
    reports = [encode_report(s, first_seq + i) for i, s in enumerate(snapshots)]
    return orjson.loads(encode_batch(agent, reports))
