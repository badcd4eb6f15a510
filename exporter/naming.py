"""OTel metric and attribute names rendered the Prometheus way (see shared conventions).

The same rules as the OTel Collector's Prometheus exporter: dots become `_`, the unit word is
appended, monotonic counters end in `_total`, unit `1` gauges end in `_ratio`, `{thing}` adds
nothing.
"""

from __future__ import annotations

import re

from exporter.model import Kind

_UNIT_WORDS = {
    "s": "seconds",
    "ms": "milliseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "%": "percent",
    "Hz": "hertz",
}
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_REPEATED_UNDERSCORE = re.compile(r"__+")


def prometheus_metric_name(name: str, unit: str, kind: Kind) -> str:
    base = _REPEATED_UNDERSCORE.sub("_", _INVALID.sub("_", name))
    words = []
    if unit == "1":
        if kind is Kind.GAUGE:
            words.append("ratio")
    elif unit and not unit.startswith("{"):
        words.append(_UNIT_WORDS.get(unit, _INVALID.sub("_", unit)))
    for word in words:
        if not base.endswith("_" + word):
            base = f"{base}_{word}"
    if kind is Kind.COUNTER and not base.endswith("_total"):
        base += "_total"
    return base


def prometheus_label_name(attribute: str) -> str:
    label = _INVALID_LABEL.sub("_", attribute)
    return "key_" + label if label[:1].isdigit() else label
