"""A real Prometheus scrapes the real agent (`hostpulse-exporter --web.config.file`) over HTTPS
with basic auth, using its usual `scheme: https` + `tls_config` + `basic_auth` scrape config."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from tests.conftest import free_port, require_program
from tests.exporter.test_prometheus_scrape import _http_get, _poll, _stop
from tests.tls_support import make_pki

pytestmark = [pytest.mark.external, pytest.mark.slow]

PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[3]


@contextmanager
def _process(args: list[str], log_path: Path, **kw: Any) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **kw)
        try:
            yield process
        finally:
            _stop(process)


def _targets(url: str) -> dict[str, dict[str, Any]]:
    body = json.loads(_http_get(f"{url}/api/v1/targets?state=active"))
    return {t["labels"]["job"]: t for t in body["data"]["activeTargets"]}


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    body = json.loads(_http_get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _basic(password: str) -> dict[str, str]:
    return {"username": "prometheus", "password": password}


def test_prometheus_scrapes_the_agent_over_https_with_basic_auth(tmp_path: Path) -> None:
    prometheus = require_program("prometheus")
    pki = make_pki(tmp_path / "pki")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    web = tmp_path / "web.yml"
    # Paths relative to the web config file, as exporter-toolkit resolves them.
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {"cert_file": "pki/server.crt", "key_file": "pki/server.key"},
                "basic_auth_users": {"prometheus": hashed},
            }
        )
    )
    agent_port, prometheus_port = free_port(), free_port()
    agent_config = tmp_path / "agent.yaml"
    agent_config.write_text(yaml.safe_dump({"interval": "1s", "log_level": "warning"}))
    target = f"127.0.0.1:{agent_port}"
    job = {
        "scheme": "https",
        "tls_config": {"ca_file": str(pki.ca)},
        "static_configs": [{"targets": [target]}],
    }
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": "good", "basic_auth": _basic(PASSWORD), **job},
            {"job_name": "wrong-password", "basic_auth": _basic("not it"), **job},
            {"job_name": "wrong-ca", **job, "tls_config": {"ca_file": str(pki.other_ca)}},
        ],
    }
    prometheus_config = tmp_path / "prometheus.yml"
    prometheus_config.write_text(yaml.safe_dump(config))
    agent_args = [
        *(sys.executable, "-m", "exporter.cli", "--config", str(agent_config)),
        *("--listen", target, "--web.config.file", str(web)),
    ]
    with (
        _process(agent_args, tmp_path / "agent.log", cwd=REPO) as agent,
        _process(
            [
                prometheus,
                f"--config.file={prometheus_config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            tmp_path / "prometheus.log",
        ),
    ):
        url = f"http://127.0.0.1:{prometheus_port}"

        def all_scraped() -> dict[str, dict[str, Any]]:
            assert agent.poll() is None, (tmp_path / "agent.log").read_text()
            targets = _targets(url)
            done = len(targets) == 3 and all(
                t["lastScrape"][:4] != "0001" for t in targets.values()
            )
            good = targets.get("good", {}).get("health") == "up"
            return targets if done and good else {}

        targets = _poll("three scrapes, the good one up", all_scraped)
        assert targets["wrong-password"]["health"] == "down"
        assert "401" in targets["wrong-password"]["lastError"]
        assert targets["wrong-ca"]["health"] == "down"
        assert "certificate" in targets["wrong-ca"]["lastError"]
        success = _poll(
            "the agent's own health via HTTPS",
            lambda: _query(url, 'hostpulse_collector_success{job="good"}'),
        )
        assert {s["metric"]["collector"] for s in success} >= {"cpu", "memory"}
