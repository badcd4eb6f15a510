"""Structured logs: one JSON object per line by default (time, level, logger, event, fields).

Call sites pass machine-readable context as `extra={"fields": {...}}`; the text format appends the
same fields as `key=value` so both formats carry the same information.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["json", "text"]
_HANDLER_MARK = "_hostpulse_handler"


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """`extra={"fields": {...}}` plus any other `extra=` keys, so every call site shows."""
    fields: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key == "fields" and isinstance(value, dict):
            fields.update(value)
        elif key not in _STANDARD_ATTRIBUTES and key != "fields" and not key.startswith("_"):
            fields[key] = value
    return fields


def _rfc3339(created: float) -> str:
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line; unserialisable field values become strings."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = _fields_of(record)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        if fields:
            entry["fields"] = fields
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time level logger: event key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            _rfc3339(record.created),
            record.levelname.lower(),
            f"{record.name}:",
            record.getMessage(),
        ]
        parts += [f"{key}={value}" for key, value in _fields_of(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(
    log_format: LogFormat = "json", level: str = "info", stream: TextIO | None = None
) -> logging.Handler:
    """Route every logger to one stderr handler in the chosen format (replacing ours, if any)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
