"""The committed dashboards and provisioning files as the tests read them, and the queries in
them (shared by the lint, PromQL and SQL tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from dashboards.grafana.generate import DASHBOARDS_DIR, PROVISIONING_DIR

Json = dict[str, Any]


def dashboards() -> dict[str, Json]:
    """File name → parsed dashboard, for every committed file."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARDS_DIR.glob("*.json"))
    }


def provisioning(kind: str) -> Json:
    loaded: Json = yaml.safe_load((PROVISIONING_DIR / kind / "hostpulse.yaml").read_text())
    return loaded


def panels(dashboard: Json) -> Iterator[Json]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class Query:
    dashboard: str  # uid
    panel: str  # title
    panel_type: str
    ref_id: str
    datasource_uid: str
    text: str  # PromQL or SQL
    instant: bool
    table: bool


def queries(dashboard: Json) -> list[Query]:
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            text = target.get("expr") or target.get("rawSql")
            found.append(
                Query(
                    dashboard["uid"],
                    panel["title"],
                    panel["type"],
                    target["refId"],
                    target["datasource"]["uid"],
                    text,
                    bool(target.get("instant")),
                    target.get("format") == "table",
                )
            )
    return found


def variables(dashboard: Json) -> list[Json]:
    listed: list[Json] = dashboard["templating"]["list"]
    return listed
