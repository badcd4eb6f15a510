"""OTel metric kinds, and metric and attribute names rendered the Prometheus way.

Part of the agent<->backend contract: the agent names its `/metrics` series with it, and the
backend names what it ingests from the agent's JSON and from OTLP with it, so one metric has one
Prometheus name on every path.

The same rules as the OTel Collector's Prometheus exporter: dots become `_`, the unit word is
appended, monotonic counters end in `_total`, unit `1` gauges end in `_ratio`, `{thing}` adds
nothing.

One deliberate difference: promtool's lint reserves a `_count` suffix for histograms and summaries,
so a non-counter named `*.count` drops `.count` and takes its `{thing}` unit in the plural instead
(`system.process.count {process}` -> `system_processes`, `process.thread.count` ->
`process_threads`).
"""

from __future__ import annotations

import re
from enum import StrEnum


class Kind(StrEnum):
    """The OTel instrument a metric maps to."""

    COUNTER = "counter"  # monotonic sum: Prometheus counter (`_total`)
    GAUGE = "gauge"  # a value that goes up and down
    UPDOWN = "updowncounter"  # non-monotonic sum (e.g. memory usage); a gauge in Prometheus


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
    if kind is Kind.COUNTER:
        if not base.endswith("_total"):
            base += "_total"
    elif base.endswith("_count"):
        base = _without_count_suffix(base[: -len("_count")], unit)
    return base


def _without_count_suffix(base: str, unit: str) -> str:
    thing = unit[1:-1] if unit.startswith("{") and unit.endswith("}") else ""
    thing = _INVALID_LABEL.sub("_", thing)
    if not thing:
        return base + "_number"
    plural = thing + ("es" if thing.endswith(("s", "x", "sh", "ch")) else "s")
    if base.endswith("_" + thing):
        return base[: -len(thing)] + plural
    return f"{base}_{plural}"


def prometheus_label_name(attribute: str) -> str:
    label = _INVALID_LABEL.sub("_", attribute)
    return "key_" + label if label[:1].isdigit() else label
