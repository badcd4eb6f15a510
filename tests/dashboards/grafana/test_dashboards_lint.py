"""Lint of every committed dashboard: what Grafana needs to import it unchanged and what an
operator relies on (units, colours, variables that work with many hosts)."""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

import pytest

from dashboards.grafana.uids import POSTGRES_DATASOURCE_UID, PROMETHEUS_DATASOURCE_UID
from tests.dashboards.grafana.dashboard_files import (
    Json,
    dashboards,
    panels,
    provisioning,
    queries,
    variables,
)

ALL = dashboards()
FILES = sorted(ALL)


def test_the_five_dashboards_exist() -> None:
    assert {d["uid"] for d in ALL.values()} == {
        "hostpulse-host",
        "hostpulse-fleet",
        "hostpulse-history",
        "hostpulse-alerts",
        "hostpulse-self",
    }


@pytest.mark.parametrize("name", FILES)
def test_classic_schema_with_stable_identity(name: str) -> None:
    dashboard = ALL[name]
    assert dashboard["schemaVersion"] == 41
    assert dashboard["id"] is None
    assert 0 < len(dashboard["uid"]) <= 40
    assert re.fullmatch(r"[a-z0-9-]+", dashboard["uid"])
    assert name == f"{dashboard['uid']}.json"
    assert "hostpulse" in dashboard["tags"]
    assert "__inputs" not in dashboard
    assert "__requires" not in dashboard
    assert "${DS_" not in str(dashboard)


def test_uids_are_unique() -> None:
    uids = [d["uid"] for d in ALL.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", FILES)
def test_panel_ids_ref_ids_and_units(name: str) -> None:
    dashboard = ALL[name]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert ref_ids, panel["title"]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']}: no unit"
        if panel["type"] == "table":  # every shown column's own unit
            for override in panel["fieldConfig"]["overrides"]:
                assert any(p["id"] == "unit" for p in override["properties"]), override


def test_cpu_memory_and_disk_panels_have_thresholds() -> None:
    coloured = [
        p["title"]
        for d in ALL.values()
        for p in panels(d)
        if len(p.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", []))
        > 1
    ]
    for title in ("CPU busy", "Memory used", "CPU busy per core"):
        assert title in coloured


def _overlap(a: Json, b: Json) -> bool:
    return bool(
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


@pytest.mark.parametrize("name", FILES)
def test_grid_positions_fit_24_columns_and_never_overlap(name: str) -> None:
    boxes = [p["gridPos"] for p in panels(ALL[name])]
    for box in boxes:
        assert box["x"] >= 0
        assert box["y"] >= 0
        assert box["w"] > 0
        assert box["h"] > 0
        assert box["x"] + box["w"] <= 24, box
    for a, b in combinations(boxes, 2):
        assert not _overlap(a, b), (a, b)


def _multi_value_names(dashboard: Json) -> set[str]:
    return {v["name"] for v in variables(dashboard) if v.get("multi") or v.get("includeAll")}


@pytest.mark.parametrize("name", FILES)
def test_multi_value_variables_are_matched_as_regex_or_lists(name: str) -> None:
    dashboard = ALL[name]
    multi = _multi_value_names(dashboard)
    texts = [q.text for q in queries(dashboard)] + [
        v["definition"] for v in variables(dashboard) if v["type"] == "query"
    ]
    for text in texts:
        for variable in multi:
            # PromQL: only `label=~"$var"`; SQL: only `IN ($var)` or `ARRAY[$var]`.
            for match in re.finditer(rf"(.{{0,8}})\$\{{?{variable}\b", text):
                before = match.group(1)
                assert before.endswith(('=~"', "IN (", "ARRAY[")), f"{text!r}: {before!r}"


@pytest.mark.parametrize("name", FILES)
def test_every_rate_uses_rate_interval(name: str) -> None:
    for query in queries(ALL[name]):
        for window in re.findall(r"\b(?:i?rate|increase)\([^\[]*\[([^\]]+)\]", query.text):
            assert window == "$__rate_interval", query


def test_prometheus_dashboards_have_datasource_job_and_host_variables() -> None:
    for uid in ("hostpulse-host", "hostpulse-fleet", "hostpulse-self"):
        dashboard = next(d for d in ALL.values() if d["uid"] == uid)
        by_name = {v["name"]: v for v in variables(dashboard)}
        assert by_name["datasource"]["type"] == "datasource"
        assert by_name["datasource"]["query"] == "prometheus"
        host = by_name["host"]
        assert host["multi"]
        assert host["includeAll"]
        assert 'job=~"$job"' in host["definition"]
        for query in queries(dashboard):
            assert query.datasource_uid == "${datasource}"


@pytest.mark.parametrize("name", FILES)
def test_datasource_references_resolve(name: str) -> None:
    dashboard = ALL[name]
    provisioned = {d["uid"] for d in provisioning("datasources")["datasources"]}
    assert provisioned == {PROMETHEUS_DATASOURCE_UID, POSTGRES_DATASOURCE_UID}
    declared = {f"${{{v['name']}}}" for v in variables(dashboard) if v["type"] == "datasource"}
    references = [p["datasource"] for p in panels(dashboard) if "datasource" in p]
    references += [t["datasource"] for p in panels(dashboard) for t in p.get("targets", [])]
    references += [v["datasource"] for v in variables(dashboard) if "datasource" in v]
    assert references
    for reference in references:
        assert reference["uid"] in provisioned | declared, reference


REPO = Path(__file__).resolve().parents[3]


def _self_metric_names() -> set[str]:
    """Every self-metric the backend serves (backend/self_metrics.py) and every `hostpulse.*`
    metric the agent sends (its Prometheus name: dots become underscores, plus a unit suffix
    such as `_seconds`)."""
    backend = (REPO / "backend" / "self_metrics.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"(hostpulse_[a-z0-9_]+)"', backend))
    for path in (REPO / "exporter").rglob("*.py"):
        for name in re.findall(r'"(hostpulse\.[a-z0-9_.]+)"', path.read_text(encoding="utf-8")):
            names.add(name.replace(".", "_"))
    return names


def test_self_monitoring_shows_every_self_metric() -> None:
    names = _self_metric_names()
    assert {"hostpulse_ingest_samples", "hostpulse_agent_reports_dropped"} <= names  # found
    shown = " ".join(q.text for d in ALL.values() for q in queries(d))
    suffixes = r"(_seconds)?(_total|_bucket|_count)?"
    missing = sorted(n for n in names if not re.search(rf"\b{n}{suffixes}\b", shown))
    assert not missing, f"self-metrics on no dashboard panel: {missing}"


def test_each_dashboard_has_its_required_panels() -> None:
    """The panels issue 11 lists for each dashboard, by title."""
    required = {
        "hostpulse-host": {
            "Uptime", "CPU busy", "CPU busy per core", "CPU by mode", "Load average", "Memory",
            "Swap", "Threads and processes", "Open file handles", "Disk I/O", "Disk operations",
            "Network traffic", "Network packets", "Network errors and drops",
            "Top processes (now)", "CPU per process",
        },
        "hostpulse-fleet": {"Hosts", "Hosts up", "Hosts down"},
        "hostpulse-history": {
            "CPU busy per core", "CPU by mode", "Load average", "Memory", "Swap",
            "Threads and open file handles", "Disk I/O", "Disk operations", "Network traffic",
            "Network packets", "Network errors and drops",
            "Top processes (last snapshot in the range)",
        },
        "hostpulse-alerts": {"Current alerts", "Alert history", "Firing now"},
    }  # fmt: skip
    for uid, titles in required.items():
        dashboard = next(d for d in ALL.values() if d["uid"] == uid)
        present = {p["title"] for p in panels(dashboard)}
        assert titles <= present, (uid, sorted(titles - present))
    host = next(d for d in ALL.values() if d["uid"] == "hostpulse-host")
    top = next(p for p in panels(host) if p["title"] == "Top processes (now)")
    headers = {o["matcher"]["options"] for o in top["fieldConfig"]["overrides"]}
    assert {"Rank", "Process", "PID", "CPU", "RSS", "Threads", "Disk I/O", "Open files"} <= headers


def test_fleet_view_scales_without_repeated_panels() -> None:
    """2,000 hosts are 2,000 table rows, not 2,000 panels; All is `.+`, not a 2,000-name regex."""
    for dashboard in ALL.values():
        for panel in panels(dashboard):
            assert not panel.get("repeat"), (dashboard["uid"], panel["title"])
    fleet = next(d for d in ALL.values() if d["uid"] == "hostpulse-fleet")
    host = next(v for v in variables(fleet) if v["name"] == "host")
    assert host["allValue"] == ".+"
    table = next(p for p in panels(fleet) if p["title"] == "Hosts")
    assert all(t.get("instant") for t in table["targets"]), "one instant value per host"
