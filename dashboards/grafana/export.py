"""Dashboards for grafana.com or Grafana's "Import dashboard": the provisioned JSON plus the
`__inputs` and `__requires` Grafana's "Export for sharing externally" writes, so the importer is
asked which datasource to use. The provisioned files never carry these (Grafana's file provisioning
does not resolve `__inputs`: grafana/grafana#10786)."""

from __future__ import annotations

import copy
import json
from typing import Any

from dashboards.grafana.panels import Json
from dashboards.grafana.uids import (
    POSTGRES_DATASOURCE_NAME,
    POSTGRES_DATASOURCE_TYPE,
    POSTGRES_DATASOURCE_UID,
)

GRAFANA_VERSION = "11.6.0"
PROMETHEUS_INPUT = "DS_PROMETHEUS"
POSTGRES_INPUT = "DS_HOSTPULSE_POSTGRESQL"
_PANEL_NAMES = {"timeseries": "Time series", "stat": "Stat", "table": "Table", "row": "Row"}


def _replace_uid(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        if node.get("uid") == old and "type" in node:
            return {**node, "uid": new}
        return {key: _replace_uid(value, old, new) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_uid(item, old, new) for item in node]
    return node


def for_import(dashboard: Json) -> Json:
    """The dashboard as an external export: datasources as `${DS_…}` inputs."""
    exported: Json = copy.deepcopy(dashboard)
    inputs: list[Json] = []
    requires: list[Json] = [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION}
    ]
    text = json.dumps(exported)
    if POSTGRES_DATASOURCE_UID in text:
        exported = _replace_uid(exported, POSTGRES_DATASOURCE_UID, f"${{{POSTGRES_INPUT}}}")
        inputs.append(
            {
                "name": POSTGRES_INPUT,
                "label": POSTGRES_DATASOURCE_NAME,
                "description": "HostPulse's PostgreSQL, as the read-only role hostpulse_grafana",
                "type": "datasource",
                "pluginId": POSTGRES_DATASOURCE_TYPE,
                "pluginName": "PostgreSQL",
            }
        )
        requires.append(
            {"type": "datasource", "id": POSTGRES_DATASOURCE_TYPE, "name": "PostgreSQL",
             "version": "1.0.0"}
        )  # fmt: skip
    for variable in exported["templating"]["list"]:
        if variable["type"] == "datasource" and variable["query"] == "prometheus":
            # The variable stays (a dashboard can switch Prometheus); the import picks its start.
            variable["current"] = {
                "selected": False,
                "text": f"${{{PROMETHEUS_INPUT}}}",
                "value": f"${{{PROMETHEUS_INPUT}}}",
            }
            inputs.append(
                {
                    "name": PROMETHEUS_INPUT,
                    "label": "Prometheus",
                    "description": "The Prometheus scraping the HostPulse exporters",
                    "type": "datasource",
                    "pluginId": "prometheus",
                    "pluginName": "Prometheus",
                }
            )
            requires.append(
                {"type": "datasource", "id": "prometheus", "name": "Prometheus",
                 "version": "1.0.0"}
            )  # fmt: skip
    panel_types = sorted({p["type"] for p in exported["panels"] if p["type"] != "row"})
    requires += [
        {"type": "panel", "id": kind, "name": _PANEL_NAMES.get(kind, kind), "version": ""}
        for kind in panel_types
    ]
    return {"__inputs": inputs, "__elements": {}, "__requires": requires, **exported}
