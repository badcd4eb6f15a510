"""Alert rule definitions: one metric with label matchers, a comparison, a `for` duration."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Comparison = Literal[">", ">=", "<", "<=", "==", "!="]

COMPARISONS: Mapping[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class RuleKind(StrEnum):
    THRESHOLD = "threshold"  # the metric compared with a threshold
    ABSENT = "absent"  # no sample from a host for `for_seconds` (the agent-stale rule)


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str  # becomes the `alertname` label
    metric: str  # Prometheus-style metric name
    kind: RuleKind = RuleKind.THRESHOLD
    matchers: Mapping[str, str] = field(default_factory=dict)  # label equality; `host` included
    op: Comparison = ">"
    threshold: float = 0.0
    for_seconds: float = 0.0
    # Hysteresis: once firing, the alert resolves only when the value no longer meets
    # `op resolve_threshold` (e.g. fire above 0.9, resolve below 0.8).
    resolve_threshold: float | None = None
    keep_firing_for_seconds: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True

    def matches(self, host: str, metric: str, labels: Mapping[str, str]) -> bool:
        if metric != self.metric:
            return False
        for key, wanted in self.matchers.items():
            actual = host if key == "host" else labels.get(key)
            if actual != wanted:
                return False
        return True

    def breaches(self, value: float, *, firing: bool) -> bool:
        """Whether the value keeps (or puts) the alert active; hysteresis applies while firing."""
        compare = COMPARISONS[self.op]
        if firing and self.resolve_threshold is not None:
            return compare(value, self.resolve_threshold)
        return compare(value, self.threshold)


_TEMPLATE_FIELD = re.compile(r"\{\{\s*\$(value|labels\.([A-Za-z_][A-Za-z0-9_]*))\s*\}\}")


def render_annotation(template: str, value: float | None, labels: Mapping[str, str]) -> str:
    """Expand `{{ $value }}` and `{{ $labels.name }}` the way Prometheus annotation templates do."""

    def expand(match: re.Match[str]) -> str:
        if match.group(1) == "value":
            return "" if value is None else f"{value:g}"
        return labels.get(match.group(2), "")

    return _TEMPLATE_FIELD.sub(expand, template)
