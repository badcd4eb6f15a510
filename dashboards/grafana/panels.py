"""Small builders for classic (schemaVersion 41) dashboard JSON: plain dictionaries, no magic.

Every panel gets a unit; ids and grid positions are assigned by `Layout` so they never clash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dashboards.grafana.uids import POSTGRES_DATASOURCE_TYPE, POSTGRES_DATASOURCE_UID

Json = dict[str, Any]

SCHEMA_VERSION = 41
PROMETHEUS = {"type": "prometheus", "uid": "${datasource}"}
POSTGRES = {"type": POSTGRES_DATASOURCE_TYPE, "uid": POSTGRES_DATASOURCE_UID}
GRID_COLUMNS = 24


def thresholds(*steps: tuple[float, str]) -> Json:
    """Green below the first step, then each colour from its value on."""
    return {
        "mode": "absolute",
        "steps": [{"color": "green", "value": None}]
        + [{"color": color, "value": value} for value, color in steps],
    }


# CPU, memory and disk: amber from 80 %, red from 90 %.
BUSY_THRESHOLDS = thresholds((0.8, "orange"), (0.9, "red"))
PLAIN_THRESHOLDS = thresholds()


def prom(expr: str, legend: str = "__auto", *, instant: bool = False, table: bool = False) -> Json:
    target: Json = {"datasource": PROMETHEUS, "expr": expr, "legendFormat": legend}
    if instant:
        target |= {"instant": True, "range": False}
    else:
        target |= {"instant": False, "range": True}
    if table:
        target["format"] = "table"
    return target


def sql(query: str, *, table: bool = False) -> Json:
    return {
        "datasource": POSTGRES,
        "editorMode": "code",
        "format": "table" if table else "time_series",
        "rawQuery": True,
        "rawSql": query,
    }


def _with_ref_ids(targets: list[Json]) -> list[Json]:
    return [t | {"refId": chr(ord("A") + i)} for i, t in enumerate(targets)]


def timeseries(
    title: str,
    targets: list[Json],
    *,
    unit: str,
    description: str = "",
    stack: bool = False,
    limits: Json = PLAIN_THRESHOLDS,
    max_value: float | None = None,
    width: int = 12,
    height: int = 8,
) -> Json:
    custom: Json = {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "showPoints": "never"}
    if stack:
        custom |= {"stacking": {"group": "A", "mode": "normal"}, "fillOpacity": 60}
    if limits is not PLAIN_THRESHOLDS:
        custom["thresholdsStyle"] = {"mode": "line"}
    defaults: Json = {"unit": unit, "min": 0, "thresholds": limits, "custom": custom}
    if max_value is not None:
        defaults["max"] = max_value
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _with_ref_ids(targets),
        "gridPos": {"w": width, "h": height},
    }


def stat(
    title: str,
    targets: list[Json],
    *,
    unit: str,
    description: str = "",
    limits: Json = PLAIN_THRESHOLDS,
    width: int = 4,
    height: int = 4,
) -> Json:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": limits}, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        },
        "targets": _with_ref_ids(targets),
        "gridPos": {"w": width, "h": height},
    }


@dataclass(frozen=True)
class Column:
    """One table column: the field it comes from, its header, its unit and colouring."""

    field: str
    header: str
    unit: str = "short"
    limits: Json | None = None


def table(
    title: str,
    targets: list[Json],
    columns: list[Column],
    *,
    description: str = "",
    merge: bool = False,
    sort_by: str | None = None,
    keep_time: bool = False,
    width: int = 24,
    height: int = 10,
) -> Json:
    """A table whose listed columns are renamed and given units; other fields are hidden when
    `merge` (several instant queries joined on their labels into one row per label set). The
    instant queries' `Time` column is hidden unless `keep_time`."""
    transformations: list[Json] = []
    if merge:
        transformations.append({"id": "merge", "options": {}})
    transformations.append(
        {
            "id": "organize",
            "options": {
                "excludeByName": {} if keep_time else {"Time": True},
                "indexByName": {c.field: i for i, c in enumerate(columns)},
                "renameByName": {c.field: c.header for c in columns if c.header != c.field},
            },
        }
    )
    overrides: list[Json] = []
    for column in columns:
        properties: list[Json] = [{"id": "unit", "value": column.unit}]
        if column.limits is not None:
            properties += [
                {"id": "thresholds", "value": column.limits},
                {"id": "custom.cellOptions", "value": {"type": "color-background"}},
            ]
        overrides.append(
            {"matcher": {"id": "byName", "options": column.header}, "properties": properties}
        )
    options: Json = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    if sort_by is not None:
        options["sortBy"] = [{"displayName": sort_by, "desc": True}]
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "fieldConfig": {
            "defaults": {
                "unit": "short",
                "thresholds": PLAIN_THRESHOLDS,
                "custom": {"filterable": True},
            },
            "overrides": overrides,
        },
        "options": options,
        "transformations": transformations,
        "targets": _with_ref_ids(targets),
        "gridPos": {"w": width, "h": height},
    }


def row(title: str) -> Json:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": 24, "h": 1},
    }


@dataclass
class Layout:
    """Places panels left to right, wrapping at 24 columns; a row always starts a new line."""

    panels: list[Json] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _line_height: int = 0

    def add(self, *panels: Json) -> None:
        for panel in panels:
            width, height = panel["gridPos"]["w"], panel["gridPos"]["h"]
            if panel["type"] == "row" or self._x + width > GRID_COLUMNS:
                self._y += self._line_height
                self._x, self._line_height = 0, 0
            panel["gridPos"] = {"h": height, "w": width, "x": self._x, "y": self._y}
            panel["id"] = len(self.panels) + 1
            self._x += width
            self._line_height = max(self._line_height, height)
            self.panels.append(panel)


def datasource_variable() -> Json:
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "includeAll": False,
        "multi": False,
    }


def query_variable(
    name: str,
    label: str,
    query: str,
    *,
    datasource: Json,
    multi: bool = True,
    all_value: str | None = None,
    sql_query: bool = False,
    include_all: bool | None = None,
) -> Json:
    """A variable filled by `query`; `include_all` defaults to `multi` (All is then chosen
    at first; without it Grafana starts with the first value)."""
    include_all = multi if include_all is None else include_all
    variable: Json = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": datasource,
        "definition": query,
        "query": query
        if sql_query
        else {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "current": {},
        "hide": 0,
        "refresh": 2,  # on time range change: hosts come and go
        "regex": "",
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
    }
    if include_all:
        variable["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    if all_value is not None:
        variable["allValue"] = all_value
    return variable


def dashboard(
    uid: str,
    title: str,
    description: str,
    tags: list[str],
    variables: list[Json],
    layout: Layout,
    *,
    time_from: str = "now-1h",
    refresh: str = "30s",
    links: list[Json] | None = None,
) -> Json:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["hostpulse", *tags],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": links
        if links is not None
        else [
            {
                "type": "dashboards",
                "tags": ["hostpulse"],
                "asDropdown": True,
                "title": "HostPulse",
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": variables},
        "panels": layout.panels,
    }
