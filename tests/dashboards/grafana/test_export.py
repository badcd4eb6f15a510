"""`hostpulse-grafana generate --export-dir/--preview-dir`: dashboards for grafana.com import
(the shape Grafana's "Export for sharing externally" writes) and HTML layout previews. No
Grafana can run here to import them; the test checks what Grafana's importer reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dashboards.grafana import generate
from dashboards.grafana.cli import main
from dashboards.grafana.uids import POSTGRES_DATASOURCE_UID


def test_export_declares_inputs_and_leaves_the_provisioned_files(tmp_path: Path) -> None:
    before = {p.name: p.read_text() for p in generate.DASHBOARDS_DIR.glob("*.json")}
    assert main(["generate", "--export-dir", str(tmp_path / "x")]) == 0
    assert {p.name: p.read_text() for p in generate.DASHBOARDS_DIR.glob("*.json")} == before
    exported = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "x").glob("*.json")}
    assert sorted(exported) == sorted(generate.BUILDERS)
    for uid, dashboard in exported.items():
        text = json.dumps(dashboard)
        inputs = {i["name"]: i for i in dashboard["__inputs"]}
        used = set(re.findall(r"\$\{(DS_[A-Z_]+)\}", text))
        assert used == set(inputs), uid  # every input used, every use declared
        assert POSTGRES_DATASOURCE_UID not in text, uid
        required = {(r["type"], r["id"]) for r in dashboard["__requires"]}
        assert ("grafana", "grafana") in required
        for item in inputs.values():
            assert ("datasource", item["pluginId"]) in required
        for panel in dashboard["panels"]:
            if panel["type"] != "row":
                assert ("panel", panel["type"]) in required
        assert dashboard["uid"] == uid
        assert dashboard["id"] is None
    assert set(exported["hostpulse-history"]["__inputs"][0].values()) >= {
        "DS_HOSTPULSE_POSTGRESQL",
        "grafana-postgresql-datasource",
    }
    assert exported["hostpulse-host"]["__inputs"][0]["pluginId"] == "prometheus"


def test_preview_shows_every_panel_at_its_place(tmp_path: Path) -> None:
    assert main(["generate", "--preview-dir", str(tmp_path)]) == 0
    page = (tmp_path / "hostpulse-host.html").read_text()
    host = json.loads((generate.DASHBOARDS_DIR / "hostpulse-host.json").read_text())
    for panel in host["panels"]:
        assert panel["title"] in page
    assert page.count('class="panel ') == sum(p["type"] != "row" for p in host["panels"])
    assert "unit percentunit" in page
    assert "<script" not in page
