"""Pure translation of a `Snapshot` into prometheus_client metric families.

OTel names become Prometheus names by `conventions.naming`; counters become counters (`_total`),
gauges and updowncounters become gauges. Every collector also gets
`hostpulse_collector_duration_seconds` and `hostpulse_collector_success`, and the resource goes
to `target_info` (see shared conventions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from prometheus_client.metrics_core import InfoMetricFamily, Metric
from prometheus_client.samples import Sample

from conventions.naming import Kind, prometheus_label_name, prometheus_metric_name
from exporter.model import Metric as OtelMetric
from exporter.model import Snapshot

SERVICE_NAME = "hostpulse-exporter"
DURATION_FAMILY = "hostpulse_collector_duration_seconds"
SUCCESS_FAMILY = "hostpulse_collector_success"

# Unit words the OpenMetrics `# UNIT` line may carry: the suffix `conventions.naming` appended.
_OPENMETRICS_UNITS = (
    "seconds",
    "milliseconds",
    "bytes",
    "kibibytes",
    "mebibytes",
    "ratio",
    "hertz",
)


@dataclass(frozen=True, slots=True)
class FamilyShape:
    """How one OTel metric is laid out in Prometheus: family and sample names, type and unit."""

    family_name: str  # without `_total`: prometheus_client adds it for counters
    sample_name: str
    type: str  # "counter" or "gauge"
    unit: str  # OpenMetrics unit word, or ""


@dataclass(slots=True)
class Exposition:
    """The families to expose, and the OTel metrics that could not be translated (skipped)."""

    families: list[Metric]
    rejected: list[str] = field(default_factory=list)


@lru_cache(maxsize=2048)
def family_shape(name: str, unit: str, kind: Kind) -> FamilyShape:
    """The Prometheus layout of an OTel metric; cached as the same names recur every scrape."""
    full_name = prometheus_metric_name(name, unit, kind)
    if kind is Kind.COUNTER:
        family_name = full_name.removesuffix("_total")
        prom_type = "counter"
    else:
        family_name = full_name
        prom_type = "gauge"
    prom_unit = next((u for u in _OPENMETRICS_UNITS if family_name.endswith("_" + u)), "")
    return FamilyShape(family_name, full_name, prom_type, prom_unit)


@lru_cache(maxsize=4096)
def label_name(attribute: str) -> str:
    return prometheus_label_name(attribute)


def _labels(attributes: Mapping[str, str]) -> dict[str, str]:
    # Attribute values should be strings; a collector slip (an int) must not fail the whole scrape.
    return {
        label_name(key): value if isinstance(value, str) else str(value)
        for key, value in attributes.items()
    }


def _help_text(metric: OtelMetric) -> str:
    # promtool flags an empty HELP, so fall back to the OTel name and unit.
    return metric.description or f"{metric.name} ({metric.unit or 'no unit'})"


def _new_family(shape: FamilyShape, metric: OtelMetric) -> Metric:
    # The unit is only set when the name already ends with it, so Metric() keeps the name as is.
    return Metric(shape.family_name, _help_text(metric), shape.type, shape.unit)


def _add_points(family: Metric, shape: FamilyShape, metric: OtelMetric, dedupe: bool) -> None:
    seen = {frozenset(s.labels.items()) for s in family.samples} if dedupe else None
    samples = family.samples
    for point in metric.points:
        try:
            value = float(point.value)
        except (TypeError, ValueError):
            continue
        if shape.type == "counter" and not (value >= 0 or math.isnan(value)):
            continue  # a negative counter is a collector bug; Prometheus would treat it as a reset
        labels = _labels(point.attributes)
        if seen is not None:
            key = frozenset(labels.items())
            if key in seen:
                continue
            seen.add(key)
        samples.append(Sample(shape.sample_name, labels, value, None, None, None))


def _health_families(snapshot: Snapshot) -> list[Metric]:
    duration = Metric(DURATION_FAMILY, "Seconds the collector's last run took.", "gauge", "seconds")
    success = Metric(
        SUCCESS_FAMILY, "1 if the collector's last run succeeded, 0 if it failed.", "gauge"
    )
    for result in snapshot.results:
        labels = {"collector": result.collector}
        duration.samples.append(
            Sample(DURATION_FAMILY, labels, float(result.duration_seconds), None, None, None)
        )
        success.samples.append(
            Sample(SUCCESS_FAMILY, labels, 1.0 if result.success else 0.0, None, None, None)
        )
    return [duration, success]


def _target_info(snapshot: Snapshot, service_version: str) -> Metric:
    return InfoMetricFamily(
        "target",
        "Target metadata: the OTel resource of this exporter.",
        value={
            "host_name": snapshot.host_name,
            "host_id": snapshot.host_id,
            "service_name": SERVICE_NAME,
            "service_version": service_version,
        },
    )


def snapshot_families(snapshot: Snapshot, *, service_version: str) -> Exposition:
    """All families for one snapshot: target_info, collector health, then every metric in order."""
    fixed = [_target_info(snapshot, service_version), *_health_families(snapshot)]
    by_name: dict[str, Metric] = {family.name: family for family in fixed}
    fixed_names = frozenset(by_name)
    exposition = Exposition(families=list(fixed))
    for result in snapshot.results:
        for metric in result.metrics:
            try:
                shape = family_shape(metric.name, metric.unit, metric.kind)
                family = by_name.get(shape.family_name)
                if family is None:
                    family = _new_family(shape, metric)
                    by_name[shape.family_name] = family
                    exposition.families.append(family)
                    _add_points(family, shape, metric, dedupe=False)
                elif family.type == shape.type and shape.family_name not in fixed_names:
                    # The same metric from two collectors: one family, no duplicate series.
                    _add_points(family, shape, metric, dedupe=True)
                else:
                    exposition.rejected.append(metric.name)
            except (ValueError, TypeError, AttributeError):
                exposition.rejected.append(metric.name)
    return exposition
