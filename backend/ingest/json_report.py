"""The agent's JSON push format (schema v1) → `IngestBatch`. Pure: bytes/dicts in, samples out.

A document the schema vouched for (`backend.ingest.report_schema_check`) takes the fast path; the
translator re-checks what it relies on either way, so a wrong type always ends in a 422 naming the
field path. Samples come out as `SampleColumns` (no object per sample).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

import orjson

from backend.ingest.json_points import (
    LabelRenderer,
    add_checked_points,
    add_checked_report,
    add_unchecked_points,
    finite,
    renderer_for,
)
from backend.ingest.limits import (
    IngestLimits,
    bad_request,
    check_name,
    check_text,
    check_time,
    find_unstorable,
    unprocessable,
)
from backend.model import IngestBatch, ProcessSnapshot, Sample, SampleColumns, concat, empty_columns
from conventions.naming import Kind, prometheus_metric_name

log = logging.getLogger(__name__)

_KINDS = {kind.value: kind for kind in Kind}


@dataclass(frozen=True, slots=True)
class TranslatedReport:
    instance_id: str
    seq: int
    samples: Sequence[Sample]
    snapshot: ProcessSnapshot | None


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "surrogate" in str(exc):  # JSON text, but a string no UTF-8 can hold: name it
            _refuse_unpaired_surrogate(body)
        hint = ""
        if b"NaN" in body or b"Infinity" in body:
            hint = " (NaN and Infinity are not JSON numbers; values must be finite)"
        raise bad_request(f"body: malformed JSON: {exc}{hint}") from exc


def _refuse_unpaired_surrogate(body: bytes) -> None:
    """422 naming the field when the stdlib (which keeps unpaired surrogates) can read `body`."""
    try:
        document = json.loads(body)
    except ValueError:
        return
    found = find_unstorable(document)
    if found is not None:
        loc, problem = found
        where = ".".join(str(part) for part in loc) or "body"
        raise unprocessable(f"{where}: {problem}".encode("unicode_escape").decode())


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise unprocessable(f"{where}: must be an object")
    value = obj.get(key)
    # bool is an int in Python but never a valid number or id in the format.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise unprocessable(f"{where}.{key}: missing or of the wrong type")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _time_ms(text: str, where: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise unprocessable(f"{where}: not an RFC 3339 timestamp: {text[:64]!r}") from exc
    if moment.tzinfo is None:
        raise unprocessable(f"{where}: RFC 3339 timestamp needs a time zone (e.g. Z)")
    return int(moment.timestamp() * 1000)


def _metric_points(
    columns: SampleColumns,
    metric: Any,
    host: str,
    time_ms: int,
    renderer: LabelRenderer,
    where: str,
    checked: bool,
) -> None:
    if checked:  # the schema vouched for every field and type; no string holds NUL
        name = _checked_name(
            metric["name"], metric["unit"], _KINDS[metric["type"]], renderer.limits, where
        )
        add_checked_points(columns, name, host, time_ms, metric["points"], renderer, where)
        return
    otel_name = _get(metric, "name", str, where)
    unit = _get(metric, "unit", str, where) if "unit" in metric else ""
    kind = _KINDS.get(_get(metric, "type", str, where))
    if kind is None:
        raise unprocessable(f"{where}.type: must be one of {', '.join(_KINDS)}")
    name = _checked_name(otel_name, unit, kind, renderer.limits, where)
    points = _get(metric, "points", list, where)
    add_unchecked_points(columns, name, host, time_ms, points, renderer, where)


def _checked_metric(
    host: str,
    time_ms: int,
    renderer: LabelRenderer,
    where: str,
    into: SampleColumns,
    metric: Any,
    m_index: int,
) -> None:
    _metric_points(into, metric, host, time_ms, renderer, f"{where}.metrics[{m_index}]", True)


@lru_cache(maxsize=4096)
def _rendered_name(otel_name: str, unit: str, kind: Kind) -> str:
    return prometheus_metric_name(otel_name, unit, kind)


def _checked_name(otel_name: str, unit: str, kind: Kind, limits: IngestLimits, where: str) -> str:
    name = _rendered_name(otel_name, unit, kind)
    if not 0 < len(name) <= limits.max_name_length or "\x00" in name:
        check_name(name, limits, f"{where}.name")
    return name


def _collector_points(
    columns: SampleColumns, collectors: Any, host: str, time_ms: int, where: str
) -> None:
    for index, entry in enumerate(collectors):
        at = f"{where}[{index}]"
        collector = _get(entry, "name", str, at)
        labels = {"collector": collector}
        label_items = (("collector", collector),)
        duration = finite(entry.get("duration_seconds"), f"{at}.duration_seconds")
        success = 1.0 if _get(entry, "success", bool, at) else 0.0
        columns.keys.append(("hostpulse_collector_duration_seconds", host, label_items))
        columns.keys.append(("hostpulse_collector_success", host, label_items))
        columns.labels += (labels, labels)
        columns.times += (time_ms, time_ms)
        columns.values += (duration, success)


def _snapshot(
    processes: Any, host: str, time_ms: int, where: str, checked: bool
) -> ProcessSnapshot | None:
    if not isinstance(processes, list):
        raise unprocessable(f"{where}: must be an array")
    for index, process in enumerate([] if checked else processes):
        if not isinstance(process, dict):
            raise unprocessable(f"{where}[{index}]: must be an object")
        for key, value in process.items():  # stored verbatim (jsonb), except what PG can't hold
            if isinstance(value, str):
                check_text(value, f"{where}[{index}].{key}")
        _get(process, "name", str, f"{where}[{index}]")
    return ProcessSnapshot(host, time_ms, tuple(processes)) if processes else None


def translate_document(
    document: Any, *, now_ms: int, limits: IngestLimits, shape_checked: bool = False
) -> list[TranslatedReport]:
    """Every report of one batch, or an IngestError naming the first problem (nothing partial).

    `shape_checked`: the document passed the v1 schema and `may_contain_nul` is False, so the
    per-point type and NUL checks are skipped; time, names and label bounds are still checked.
    """
    if _get(document, "schema_version", int, "body") != 1:
        raise unprocessable("schema_version: only version 1 is supported")
    instance_id = _get(_get(document, "agent", dict, "body"), "instance_id", str, "agent")
    reports = _get(document, "reports", list, "body")
    if not reports:
        raise unprocessable("reports: at least one report is required")
    renderer = renderer_for(limits)
    translated = []
    for index, report in enumerate(reports):
        where = f"reports[{index}]"
        seq = _get(report, "seq", int, where)
        time_ms = _time_ms(_get(report, "timestamp", str, where), f"{where}.timestamp")
        check_time(time_ms, now_ms, limits, f"{where}.timestamp")
        host = _get(_get(report, "host", dict, where), "name", str, f"{where}.host")
        check_text(host, f"{where}.host.name")
        columns = empty_columns()
        metrics = _get(report, "metrics", list, where)
        if shape_checked:
            add_metric = partial(_checked_metric, host, time_ms, renderer, where)
            add_checked_report(columns, metrics, host, time_ms, renderer, add_metric)
        else:
            for m_index, metric in enumerate(metrics):
                at = f"{where}.metrics[{m_index}]"
                _metric_points(columns, metric, host, time_ms, renderer, at, False)
        collectors = report.get("collectors") or []
        _collector_points(columns, collectors, host, time_ms, f"{where}.collectors")
        processes = report.get("processes") or []
        snapshot = _snapshot(processes, host, time_ms, f"{where}.processes", shape_checked)
        translated.append(TranslatedReport(instance_id, seq, columns, snapshot))
    return translated


def to_batch(reports: Iterable[TranslatedReport]) -> IngestBatch:
    chosen = list(reports)
    return IngestBatch(
        protocol="json",
        samples=concat([report.samples for report in chosen]),
        process_snapshots=[r.snapshot for r in chosen if r.snapshot is not None],
    )
