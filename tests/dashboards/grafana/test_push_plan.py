"""push_plan.py, the pure part of `hostpulse-grafana push`: what counts as a change."""

from __future__ import annotations

import pytest
import yaml

from dashboards.grafana.generate import PROVISIONING_DIR
from dashboards.grafana.push_plan import (
    Current,
    Desired,
    PlanError,
    Postgres,
    desired,
    plan,
    postgres_datasource,
    prometheus_datasource,
)

MODEL = {"uid": "hostpulse-host", "title": "Host", "panels": [{"id": 1}], "schemaVersion": 41}
PG = Postgres.from_dsn("postgresql://hostpulse_grafana@db/hostpulse")


def want(password: str | None = None) -> Desired:
    return desired(
        folder_title="HostPulse",
        prometheus_url="http://prom:9090",
        postgres=PG,
        dashboards=[MODEL],
        postgres_password=password,
    )


def stored(password_set: bool = True) -> Current:
    """What Grafana returns after storing everything push sends (plus its own fields)."""
    return Current(
        folder={"uid": "hostpulse", "title": "HostPulse", "version": 3, "id": 7},
        datasources={
            "hostpulse-prometheus": {
                **prometheus_datasource("http://prom:9090"),
                "id": 4,
                "version": 2,
                "readOnly": False,
                "jsonData": {"httpMethod": "POST", "timeInterval": "10s", "custom": 1},
            },
            "hostpulse-postgres": {
                **postgres_datasource(PG),
                "id": 5,
                "secureJsonFields": {"password": True} if password_set else {},
            },
        },
        dashboards={
            "hostpulse-host": {
                "dashboard": {**MODEL, "id": 12, "version": 9},
                "meta": {"folderUid": "hostpulse"},
            }
        },
    )


def test_dsn_defaults_port_and_sslmode() -> None:
    assert Postgres("db:5432", "hostpulse", "hostpulse_grafana", "require") == PG


@pytest.mark.parametrize(
    "dsn", ["postgresql://u:secret@db/hp", "http://db/hp", "postgresql://db", "postgresql:///hp"]
)
def test_unusable_dsns_are_refused(dsn: str) -> None:
    with pytest.raises(PlanError, match="--postgres-dsn"):
        Postgres.from_dsn(dsn)


def test_grafana_own_fields_and_extra_settings_are_not_changes() -> None:
    changes = plan(want("pw"), stored())
    assert [c.action for c in changes] == ["unchanged"] * 4


def test_password_is_sent_only_where_grafana_has_none() -> None:
    [_, _, pg, _] = plan(want("pw"), stored(password_set=False))
    assert pg.action == "update"
    assert pg.body["secureJsonData"] == {"password": "pw"}
    assert "pw" not in pg.describe()
    assert pg.why == "password not set in Grafana"


def test_everything_absent_is_created_in_dependency_order() -> None:
    empty = Current(folder=None, datasources={}, dashboards={})
    changes = plan(want(), empty)
    assert [(c.kind, c.action) for c in changes] == [
        ("folder", "create"),
        ("datasource", "create"),
        ("datasource", "create"),
        ("dashboard", "create"),
    ]
    assert "secureJsonData" not in changes[2].body, "no password given: none sent"


def test_pushed_datasources_match_the_provisioned_ones() -> None:
    """push and file provisioning create the same datasources (settings not given by env)."""
    provisioned = yaml.safe_load((PROVISIONING_DIR / "datasources" / "hostpulse.yaml").read_text())[
        "datasources"
    ]
    pushed = {d["uid"]: d for d in want().datasources}
    assert sorted(pushed) == sorted(d["uid"] for d in provisioned)
    for source in provisioned:
        ours = pushed[source["uid"]]
        assert (ours["name"], ours["type"]) == (source["name"], source["type"])
        for key, value in source.get("jsonData", {}).items():
            if not (isinstance(value, str) and value.startswith("$")):
                assert ours["jsonData"][key] == value, f"{source['uid']} jsonData.{key}"
        if "user" in source:
            assert ours["user"] == source["user"]
