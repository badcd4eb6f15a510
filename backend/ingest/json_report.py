"""The agent's JSON push format (schema v1) → `IngestBatch`. Pure: bytes/dicts in, samples out.

The document is checked against `exporter/schema/report-v1.schema.json` (loaded once, lazily)
and the translator re-checks what it relies on, so a wrong type always ends
in a 422 naming the field path.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from backend.ingest.limits import (
    IngestLimits,
    bad_request,
    check_labels,
    check_name,
    check_text,
    check_time,
    unprocessable,
)
from backend.model import IngestBatch, ProcessSnapshot, Sample
from exporter.model import Kind
from exporter.naming import prometheus_label_name, prometheus_metric_name

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "exporter" / "schema" / "report-v1.schema.json"
_KINDS = {kind.value: kind for kind in Kind}
# Agents send the same few hundred names every report: translate each once.
_metric_name = lru_cache(maxsize=4096)(prometheus_metric_name)
_label_name = lru_cache(maxsize=4096)(prometheus_label_name)


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
        hint = ""
        if b"NaN" in body or b"Infinity" in body:
            hint = " (NaN and Infinity are not JSON numbers; values must be finite)"
        raise bad_request(f"body: malformed JSON: {exc}{hint}") from exc


SchemaCheck = Callable[[Any], "tuple[list[str | int], str] | None"]


@cache
def _schema_check() -> SchemaCheck | None:
    """(path, message) of the first violation, or None. jsonschema-rs when installed: the pure
    Python jsonschema takes ~20 ms for one agent report, jsonschema-rs ~0.2 ms."""
    try:
        schema = orjson.loads(SCHEMA_PATH.read_bytes())
    except FileNotFoundError:
        log.warning("JSON schema %s missing: validating structurally only", SCHEMA_PATH)
        return None
    try:
        import jsonschema_rs
    except ImportError:
        log.warning("jsonschema-rs not installed: JSON ingest validates ~100x slower")
        return _python_check(schema)
    fast = jsonschema_rs.validator_for(schema)

    def check(document: Any) -> tuple[list[str | int], str] | None:
        if fast.is_valid(document):
            return None
        error = next(iter(fast.iter_errors(document)))
        return list(error.instance_path), str(error.message)

    return check


def _python_check(schema: Any) -> SchemaCheck:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    def check(document: Any) -> tuple[list[str | int], str] | None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
        return None if error is None else (list(error.absolute_path), error.message)

    return check


def _path(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def validate_document(document: Any) -> bool:
    """Raise a 422 naming the first schema violation's field path; False when no schema ran."""
    check = _schema_check()
    if check is None:
        return False
    problem = check(document)
    if problem is not None:
        path, message = problem
        raise unprocessable(f"{_path(path)}: {message[:300]}")
    return True


def may_contain_nul(body: bytes) -> bool:
    """JSON can only carry a NUL character as the escape \\u0000, so its absence rules NUL out."""
    return b"\\u0000" in body


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


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise unprocessable(f"{where}: must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise unprocessable(f"{where}: must be a finite number")
    return number


def _explain_point(point: Any, where: str) -> None:
    """Raise the 422 naming what is wrong with a point the fast path refused."""
    if not isinstance(point, dict):
        raise unprocessable(f"{where}: must be an object")
    attributes = point.get("attributes", {})
    if not isinstance(attributes, dict):
        raise unprocessable(f"{where}.attributes: must be an object")
    for key, value in attributes.items():
        if not isinstance(value, str):
            raise unprocessable(f"{where}.attributes.{key}: attribute values must be strings")
    _finite(point.get("value"), f"{where}.value")


def _metric_samples(
    metric: Any, host: str, time_ms: int, limits: IngestLimits, where: str, checked: bool
) -> list[Sample]:
    otel_name = _get(metric, "name", str, where)
    unit = _get(metric, "unit", str, where) if "unit" in metric else ""
    kind = _KINDS.get(_get(metric, "type", str, where))
    if kind is None:
        raise unprocessable(f"{where}.type: must be one of {', '.join(_KINDS)}")
    name = _metric_name(otel_name, unit, kind)
    check_name(name, limits, f"{where}.name")
    points = _get(metric, "points", list, where)
    if checked:  # the schema bounded every point and no string holds NUL: nothing left to check
        return [
            Sample(
                host,
                name,
                {_label_name(key): text for key, text in point["attributes"].items()},
                time_ms,
                float(point["value"]),
            )
            for point in points
        ]
    samples = []
    # Exact type checks only; the error is explained on the slow path.
    for index, point in enumerate(points):
        attributes = point.get("attributes", {}) if type(point) is dict else None
        value: Any = point.get("value") if attributes is not None else None
        if (
            type(attributes) is not dict
            or type(value) not in (int, float)
            or not math.isfinite(value)
            or not all(type(v) is str for v in attributes.values())
        ):
            _explain_point(point, f"{where}.points[{index}]")
            raise unprocessable(f"{where}.points[{index}]: invalid point")  # not reached
        labels = {_label_name(key): text for key, text in attributes.items()}
        check_labels(labels, limits, f"{where}.points[{index}].attributes")
        samples.append(Sample(host, name, labels, time_ms, float(value)))
    return samples


def _collector_samples(collectors: Any, host: str, time_ms: int, where: str) -> list[Sample]:
    samples = []
    for index, entry in enumerate(collectors):
        at = f"{where}[{index}]"
        labels = {"collector": _get(entry, "name", str, at)}
        duration = _finite(entry.get("duration_seconds"), f"{at}.duration_seconds")
        success = 1.0 if _get(entry, "success", bool, at) else 0.0
        samples.append(
            Sample(host, "hostpulse_collector_duration_seconds", labels, time_ms, duration)
        )
        samples.append(Sample(host, "hostpulse_collector_success", labels, time_ms, success))
    return samples


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
    per-point checks (types, label bounds, NUL) are skipped; time and names are still checked.
    """
    if _get(document, "schema_version", int, "body") != 1:
        raise unprocessable("schema_version: only version 1 is supported")
    instance_id = _get(_get(document, "agent", dict, "body"), "instance_id", str, "agent")
    reports = _get(document, "reports", list, "body")
    if not reports:
        raise unprocessable("reports: at least one report is required")
    translated = []
    for index, report in enumerate(reports):
        where = f"reports[{index}]"
        seq = _get(report, "seq", int, where)
        time_ms = _time_ms(_get(report, "timestamp", str, where), f"{where}.timestamp")
        check_time(time_ms, now_ms, limits, f"{where}.timestamp")
        host = _get(_get(report, "host", dict, where), "name", str, f"{where}.host")
        check_text(host, f"{where}.host.name")
        samples = []
        for m_index, metric in enumerate(_get(report, "metrics", list, where)):
            at = f"{where}.metrics[{m_index}]"
            samples += _metric_samples(metric, host, time_ms, limits, at, shape_checked)
        collectors = report.get("collectors") or []
        samples += _collector_samples(collectors, host, time_ms, f"{where}.collectors")
        processes = report.get("processes") or []
        snapshot = _snapshot(processes, host, time_ms, f"{where}.processes", shape_checked)
        translated.append(TranslatedReport(instance_id, seq, tuple(samples), snapshot))
    return translated


def to_batch(reports: Iterable[TranslatedReport]) -> IngestBatch:
    chosen = list(reports)
    return IngestBatch(
        protocol="json",
        samples=[sample for report in chosen for sample in report.samples],
        process_snapshots=[r.snapshot for r in chosen if r.snapshot is not None],
    )
