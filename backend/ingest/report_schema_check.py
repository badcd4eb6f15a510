"""The agent's JSON document checked against the report schema (`conventions.report_schema`):
a 422 naming the field path of the first violation. Pure; the validator is built once, lazily."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import jsonschema

from backend.ingest.limits import unprocessable
from conventions.report_schema import REPORT_SCHEMA_PATH, load_report_schema

log = logging.getLogger(__name__)

SchemaCheck = Callable[[Any], "tuple[list[str | int], str] | None"]


@cache
def _schema_check() -> SchemaCheck | None:
    """(path, message) of the first violation, or None. jsonschema-rs when installed: the pure
    Python jsonschema takes ~20 ms for one agent report, jsonschema-rs ~0.2 ms."""
    try:
        schema = load_report_schema()
    except FileNotFoundError:
        log.warning("JSON schema %s missing: validating structurally only", REPORT_SCHEMA_PATH)
        return None
    try:
        import jsonschema_rs
    except ImportError:
        log.warning("jsonschema-rs not installed: JSON ingest validates ~100x slower")
        return python_check(schema)
    fast = jsonschema_rs.validator_for(schema)

    def check(document: Any) -> tuple[list[str | int], str] | None:
        if fast.is_valid(document):
            return None
        error = next(iter(fast.iter_errors(document)))
        return list(error.instance_path), str(error.message)

    return check


def python_check(schema: Any) -> SchemaCheck:
    """The pure-Python validator: the fallback, and the reference the fast one is tested against."""
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
