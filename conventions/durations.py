"""Prometheus-style durations (`500ms`, `2s`, `5m`, `1h30m`) as used in every HostPulse config."""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: str | float | int) -> float:
    """Seconds from a number of seconds or a Prometheus duration string; ValueError otherwise.

    A leading '-' is accepted (and returns a negative number) so callers can say "must be positive"
    instead of "not a duration".
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '2s' or a number of seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("expected a finite duration such as '2s'")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as '2s' or a number of seconds")
    text = value.strip()
    sign = 1.0
    if text.startswith("-"):
        sign, text = -1.0, text[1:].strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise ValueError("expected a finite duration such as '2s'")
        return sign * number
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"{value!r} is not a duration; use e.g. '500ms', '2s', '5m' or '1h'")
    return sign * total


def format_duration(seconds: float) -> str:
    """The shortest Prometheus-style string for a number of seconds (`2s`, `500ms`, `5m`)."""
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    for unit in ("h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
