"""The provisioning files Grafana reads at start-up (and Kubernetes mounts as ConfigMaps)."""

from __future__ import annotations

import re

from dashboards.grafana.generate import DASHBOARDS_DIR, PROVISIONING_DIR
from dashboards.grafana.uids import (
    FOLDER_TITLE,
    FOLDER_UID,
    POSTGRES_DATASOURCE_TYPE,
    POSTGRES_DATASOURCE_UID,
    PROMETHEUS_DATASOURCE_UID,
    SCRAPE_INTERVAL,
)
from tests.dashboards.grafana.dashboard_files import dashboards, provisioning, queries


def test_datasources() -> None:
    config = provisioning("datasources")
    assert config["apiVersion"] == 1
    by_uid = {d["uid"]: d for d in config["datasources"]}
    prometheus = by_uid[PROMETHEUS_DATASOURCE_UID]
    assert prometheus["type"] == "prometheus"
    assert prometheus["jsonData"] == {"httpMethod": "POST", "timeInterval": SCRAPE_INTERVAL}
    postgres = by_uid[POSTGRES_DATASOURCE_UID]
    assert postgres["type"] == POSTGRES_DATASOURCE_TYPE
    assert postgres["user"] == "hostpulse_grafana"  # the read-only role of 042_grafana_reader
    assert postgres["jsonData"]["database"]
    assert postgres["jsonData"]["sslmode"]
    assert "password" not in postgres
    assert "password" not in postgres["jsonData"]
    assert re.fullmatch(r"\$__env\{[A-Z_]+\}", postgres["secureJsonData"]["password"])


def test_the_dashboards_use_exactly_the_provisioned_datasource_types() -> None:
    used = {q.datasource_uid for d in dashboards().values() for q in queries(d)}
    assert used == {"${datasource}", POSTGRES_DATASOURCE_UID}


def test_no_plaintext_secret_in_any_provisioning_file() -> None:
    for path in PROVISIONING_DIR.rglob("*.yaml"):
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("#"):
                continue
            key, _, value = line.partition(":")
            if re.search(r"password|secret|token|apikey", key, re.IGNORECASE) and value.strip():
                assert re.fullmatch(r"\$__env\{[A-Z_]+\}|\$[A-Z_]+", value.strip()), line


def test_dashboard_provider() -> None:
    config = provisioning("dashboards")
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert (provider["folder"], provider["folderUid"]) == (FOLDER_TITLE, FOLDER_UID)
    assert provider["options"]["path"].startswith("/")
    assert not provider["options"].get("foldersFromFilesStructure")
    # One flat directory of JSON files: mountable as one ConfigMap (keys are file names).
    assert all(p.is_file() and p.suffix == ".json" for p in DASHBOARDS_DIR.iterdir())
    assert sum(p.stat().st_size for p in DASHBOARDS_DIR.iterdir()) < 1_000_000
