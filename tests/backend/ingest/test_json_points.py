"""The JSON translator's per-host label cache: later reports that change their attribute sets
(new top processes, a new disk) are translated as if nothing were cached."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from backend.ingest import json_report, report_schema_check
from backend.ingest.limits import IngestError, IngestLimits
from tests.backend.ingest.ingest_support import document, now_ms


def _labels(doc: dict[str, Any], limits: IngestLimits) -> list[tuple[str, dict[str, str], float]]:
    assert report_schema_check.validate_document(doc)
    [report] = json_report.translate_document(
        doc, now_ms=now_ms(), limits=limits, shape_checked=True
    )
    return [(s.name, dict(s.labels), s.value) for s in report.samples]


def test_changed_attribute_sets_are_translated_afresh() -> None:
    limits = IngestLimits()
    doc = document(host="cache-host-1")
    before = _labels(doc, limits)
    changed = copy.deepcopy(doc)
    points = changed["reports"][0]["metrics"][1]["points"]
    points[0]["attributes"] = {"cpu.mode": "iowait", "cpu.logical_number": "3"}
    points.append({"attributes": {"cpu.mode": "idle"}, "value": 7.0})
    after = _labels(changed, limits)

    assert ("system_cpu_time_seconds_total", {"cpu_mode": "user"}, 1234.5) in before
    assert ("system_cpu_time_seconds_total", {"cpu_mode": "user"}, 1234.5) not in after
    assert (
        "system_cpu_time_seconds_total",
        {"cpu_mode": "iowait", "cpu_logical_number": "3"},
        1234.5,
    ) in after
    assert ("system_cpu_time_seconds_total", {"cpu_mode": "idle"}, 7.0) in after
    # A cached translation and a fresh one agree.
    fresh = json_report.translate_document(changed, now_ms=now_ms(), limits=limits)
    assert [(s.name, dict(s.labels), s.value) for s in fresh[0].samples] == after


def test_values_change_while_the_labels_come_from_the_cache() -> None:
    limits = IngestLimits()
    doc = document(host="cache-host-2")
    _labels(doc, limits)
    doc["reports"][0]["metrics"][0]["points"][0]["value"] = 0.75
    assert ("system_cpu_utilization_ratio", {"cpu_logical_number": "0"}, 0.75) in _labels(
        doc, limits
    )


def test_label_limits_stricter_than_the_schema_still_name_the_point() -> None:
    doc = document(host="cache-host-3")
    doc["reports"][0]["metrics"][1]["points"][1]["attributes"]["long.name"] = "x" * 20
    _labels(doc, IngestLimits())  # fine with the default limits (and now cached)
    with pytest.raises(IngestError) as caught:
        _labels(doc, IngestLimits(max_label_value_length=10))
    assert caught.value.status == 422
    assert "reports[0].metrics[1].points[1].attributes.long_name" in caught.value.detail
