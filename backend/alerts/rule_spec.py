"""The wire/file form of an alert rule (API bodies and YAML files), validated, to `AlertRule`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from backend.alerts.rules import AlertRule, Comparison, RuleKind
from conventions.durations import format_duration, parse_duration
from conventions.settings_sources import describe_validation_error

DEFAULTS_FILE = Path(__file__).resolve().parent / "defaults.yml"


def _non_negative_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError("must not be negative (a duration such as '10s')")
    return seconds


# Like the settings' Duration, but `for: 0s` ("fire at once") is a valid rule, as in Prometheus.
RuleDuration = Annotated[
    float,
    BeforeValidator(_non_negative_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class RuleSpec(BaseModel):
    """One rule as admins write it; durations are Prometheus-style strings ('10s', '5m')."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=200, pattern=_NAME_PATTERN)
    kind: RuleKind = RuleKind.THRESHOLD
    metric: str = Field(default="", max_length=200)
    matchers: dict[str, str] = Field(default_factory=dict)
    op: Comparison = ">"
    threshold: float = 0.0
    for_: RuleDuration = Field(default=0.0, alias="for")
    resolve_threshold: float | None = None
    keep_firing_for: RuleDuration = 0.0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> RuleSpec:
        if self.kind is RuleKind.THRESHOLD and not self.metric:
            raise ValueError("metric: a threshold rule needs a metric name")
        if self.kind is RuleKind.ABSENT and not self.for_:
            raise ValueError("for: an absent (stale) rule needs a duration")
        if "alertname" in self.labels:
            raise ValueError("labels: 'alertname' is set from the rule's name")
        return self

    def to_rule(self) -> AlertRule:
        return AlertRule(
            name=self.name,
            metric=self.metric,
            kind=self.kind,
            matchers=dict(self.matchers),
            op=self.op,
            threshold=self.threshold,
            for_seconds=self.for_,
            resolve_threshold=self.resolve_threshold,
            keep_firing_for_seconds=self.keep_firing_for,
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            enabled=self.enabled,
        )


_RULES_DOCUMENT = TypeAdapter(dict[str, list[RuleSpec]])


class RuleFileError(ValueError):
    """A rules file that cannot be used; the message names the file and the field."""


def parse_rules_document(data: Any, source: str) -> list[RuleSpec]:
    """`{"rules": [...]}` (or a bare list) → validated specs with unique names."""
    items = data.get("rules") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise RuleFileError(f"{source}: expected a 'rules' list")
    try:
        specs = _RULES_DOCUMENT.validate_python({"rules": items})["rules"]
    except ValidationError as exc:
        raise RuleFileError(describe_validation_error(exc, source=source)) from None
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise RuleFileError(f"{source}: rule name {spec.name!r} is used twice")
        seen.add(spec.name)
    return specs


def read_rules_file(path: Path) -> list[RuleSpec]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{path}: cannot read rules: {exc}") from None
    return parse_rules_document(data, str(path))
