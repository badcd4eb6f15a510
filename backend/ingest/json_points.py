"""One metric's points of the agent's JSON → sample columns. Pure and the JSON ingest's hot loop.

An agent sends the same attribute sets every report, so each distinct set is renamed to
Prometheus labels and checked against the limits once, then shared by every later sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from backend.ingest.limits import IngestLimits, check_labels, labels_within, unprocessable
from backend.model import SampleColumns, SeriesKey
from conventions.naming import prometheus_label_name

_label_name = lru_cache(maxsize=4096)(prometheus_label_name)
LabelItems = tuple[tuple[str, str], ...]
Rendered = tuple[LabelItems, dict[str, str]]
Shape = tuple[list[dict[str, str]], list[SeriesKey], list[Mapping[str, str]]]
MetricHeader = tuple[str, str, str]  # name, unit, type as sent
ReportShape = tuple[
    list[MetricHeader], list[list[dict[str, str]]], list[SeriesKey], list[Mapping[str, str]]
]


class LabelRenderer:
    """OTel attribute sets → (Prometheus label items, labels dict) for one set of limits."""

    def __init__(self, limits: IngestLimits, max_entries: int = 100_000) -> None:
        self.limits = limits
        self._cache: dict[LabelItems, Rendered] = {}
        # (metric, host) → the attribute sets of its last points and their rendered labels.
        self.shapes: dict[tuple[str, str], Shape] = {}
        # host → its last report's metric headers, attribute sets and rendered keys and labels.
        self.reports: dict[str, ReportShape] = {}
        # Process attributes (pid) churn slowly forever: forget everything now and then.
        self.max_entries = max_entries

    def render(self, attributes: dict[str, str], where: str, index: int) -> Rendered:
        """The rendered labels; a 422 naming point `index` of `where` if they break the limits."""
        items = tuple(attributes.items())
        found = self._cache.get(items)
        if found is None:
            labels = {_label_name(key): text for key, text in items}
            if not labels_within(labels, self.limits):
                check_labels(labels, self.limits, f"{where}.points[{index}].attributes")
            found = (tuple(labels.items()), labels)
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            self._cache[items] = found
        return found

    def learn(self, name: str, host: str, attributes: list[dict[str, str]], where: str) -> Shape:
        """Render a metric's attribute sets and remember them for its next report."""
        keys: list[SeriesKey] = []
        labels_of: list[Mapping[str, str]] = []
        for index, point_attributes in enumerate(attributes):
            label_items, labels = self.render(point_attributes, where, index)
            keys.append((name, host, label_items))
            labels_of.append(labels)
        shape = (attributes, keys, labels_of)
        if len(self.shapes) >= self.max_entries:
            self.shapes.clear()
        self.shapes[name, host] = shape
        return shape


@lru_cache(maxsize=16)
def renderer_for(limits: IngestLimits) -> LabelRenderer:
    return LabelRenderer(limits)


def add_checked_points(
    columns: SampleColumns,
    name: str,
    host: str,
    time_ms: int,
    points: list[dict[str, Any]],
    renderer: LabelRenderer,
    where: str,
) -> None:
    """Points the schema already vouched for (objects, string attributes, finite numbers).

    A host's metric usually has the same attribute sets as in its last report: then one
    C-speed list comparison replaces renaming and checking every point's labels.
    """
    attributes = [point["attributes"] for point in points]
    shape = renderer.shapes.get((name, host))
    if shape is None or shape[0] != attributes:
        shape = renderer.learn(name, host, attributes, where)
    columns.keys += shape[1]
    columns.labels += shape[2]
    columns.times += [time_ms] * len(points)
    columns.values += [float(point["value"]) for point in points]


def add_checked_report(
    columns: SampleColumns,
    metrics: list[dict[str, Any]],
    host: str,
    time_ms: int,
    renderer: LabelRenderer,
    add_metric: Callable[[SampleColumns, dict[str, Any], int], None],
) -> None:
    """A whole report's metrics the schema vouched for. An agent's report usually has exactly
    the metrics and attribute sets of its previous one: then two C-speed list comparisons
    replace the per-metric work and only the values are read. Otherwise `add_metric(columns,
    metric, index)` translates each metric (checking names and labels) and the shape is kept."""
    headers = [(m["name"], m["unit"], m["type"]) for m in metrics]
    attributes = [[point["attributes"] for point in m["points"]] for m in metrics]
    known = renderer.reports.get(host)
    if known is not None and known[0] == headers and known[1] == attributes:
        keys, labels = known[2], known[3]
    else:
        fresh = SampleColumns([], [], [], [])
        for index, metric in enumerate(metrics):
            add_metric(fresh, metric, index)
        keys, labels = fresh.keys, fresh.labels
        if len(renderer.reports) >= renderer.max_entries:
            renderer.reports.clear()
        renderer.reports[host] = (headers, attributes, keys, labels)
    columns.keys += keys
    columns.labels += labels
    columns.times += [time_ms] * len(keys)
    columns.values += [float(point["value"]) for m in metrics for point in m["points"]]


def add_unchecked_points(
    columns: SampleColumns,
    name: str,
    host: str,
    time_ms: int,
    points: list[Any],
    renderer: LabelRenderer,
    where: str,
) -> None:
    """Points nothing has checked yet: every type and bound, with a 422 naming the first fault."""
    for index, point in enumerate(points):
        at = f"{where}.points[{index}]"
        attributes = point.get("attributes", {}) if type(point) is dict else None
        value: Any = point.get("value") if attributes is not None else None
        if (
            type(attributes) is not dict
            or type(value) not in (int, float)
            or not math.isfinite(value)
            or not all(type(v) is str for v in attributes.values())
        ):
            explain_point(point, at)
            raise unprocessable(f"{at}: invalid point")  # not reached: explain_point raised
        label_items, labels = renderer.render(attributes, where, index)
        columns.keys.append((name, host, label_items))
        columns.labels.append(labels)
        columns.times.append(time_ms)
        columns.values.append(float(value))


def finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise unprocessable(f"{where}: must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise unprocessable(f"{where}: must be a finite number")
    return number


def explain_point(point: Any, where: str) -> None:
    """Raise the 422 naming what is wrong with a point the fast check refused."""
    if not isinstance(point, dict):
        raise unprocessable(f"{where}: must be an object")
    attributes = point.get("attributes", {})
    if not isinstance(attributes, dict):
        raise unprocessable(f"{where}.attributes: must be an object")
    for key, value in attributes.items():
        if not isinstance(value, str):
            raise unprocessable(f"{where}.attributes.{key}: attribute values must be strings")
    finite(point.get("value"), f"{where}.value")
