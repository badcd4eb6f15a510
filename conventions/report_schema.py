"""The agent's JSON push format, version 1, as a JSON Schema: what the agent sends and what the
backend's `/ingest/metrics` accepts (`schema/report-v1.schema.json`, shipped as package data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

REPORT_SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "report-v1.schema.json"


def load_report_schema() -> dict[str, Any]:
    """The schema document (read from disk on each call: callers keep what they build from it)."""
    schema: dict[str, Any] = orjson.loads(REPORT_SCHEMA_PATH.read_bytes())
    return schema
