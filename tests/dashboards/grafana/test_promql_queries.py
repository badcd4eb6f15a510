"""Every PromQL query of the Prometheus dashboards, interpolated as Grafana does
(grafana_macros.py; no Grafana server can run here), runs on a real Prometheus (the Debian
package) scraping two real `hostpulse-exporter` processes with different host names, one of them
pushing JSON to a real backend whose own /metrics Prometheus scrapes too, and returns series.
The only queries allowed to come back empty are listed in EMPTY_BECAUSE, each with the reason.

Prometheus gets `host_name` from the targets' file-SD labels, as the relabeling in
collector-config/prometheus does (Debian's Prometheus has no Kubernetes SD)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from tests.backend.running import AUTH, TOKEN, serve, service_settings
from tests.conftest import free_port, require_program
from tests.dashboards.grafana.dashboard_files import dashboards, queries, variables
from tests.dashboards.grafana.grafana_macros import ALL, TimeRange, Variable, expand_promql

pytestmark = [pytest.mark.slow, pytest.mark.external]

HOSTS = ("hp-alpha", "hp-beta")
SCRAPE_S = 1.0  # the test Prometheus's scrape interval: the datasource's timeInterval here
NO_FORWARD = "no forward target is configured in this run (docs/forwarding.md)"
EMPTY_BECAUSE = {
    ("hostpulse-fleet", "Hosts", "E"): "no alerting rule is loaded: ALERTS has no firing alert",
    ("hostpulse-self", "Redis trouble", "A"): "no Redis operation failed in this run",
    ("hostpulse-self", "Sealing lag", "A"): "nothing old enough to seal exists in a new database",
    ("hostpulse-self", "Disk bytes per sample", "A"): "the sealing job has sealed nothing yet",
    ("hostpulse-self", "Forwarded samples", "A"): NO_FORWARD,
    ("hostpulse-self", "Forwarded samples", "B"): NO_FORWARD,
    ("hostpulse-self", "Forwarded samples", "C"): NO_FORWARD,
    ("hostpulse-self", "Forwarded samples", "D"): NO_FORWARD,
    ("hostpulse-self", "Forward queue", "A"): NO_FORWARD,
    ("hostpulse-self", "Forward queue", "B"): NO_FORWARD,
    ("hostpulse-self", "Forward queue", "C"): NO_FORWARD,
}


@contextlib.asynccontextmanager
async def process(*argv: str, env: dict[str, str] | None = None) -> AsyncIterator[None]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def exporter(host: str, port: int, backend_url: str | None) -> list[str]:
    argv = [sys.executable, "-m", "exporter.cli", "--host-name", host, "--interval", "1s"]
    argv += ["--listen", f"127.0.0.1:{port}", "--log-level", "error"]
    if backend_url:
        argv += ["--backend-url", f"{backend_url}/ingest/metrics"]
    return argv


def prometheus_config(tmp_path: Path, exporters: dict[str, int], backend_port: int) -> Path:
    targets = tmp_path / "exporters.json"
    targets.write_text(
        json.dumps(
            [{"targets": [f"127.0.0.1:{port}"], "labels": {"host_name": host}}
             for host, port in exporters.items()]
        )
    )  # fmt: skip
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "hostpulse-exporter", "file_sd_configs": [{"files": [str(targets)]}]},
            {
                "job_name": "hostpulse-backend",
                "static_configs": [{"targets": [f"127.0.0.1:{backend_port}"]}],
            },
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


async def label_values(client: httpx.AsyncClient, query: str) -> list[str]:
    """A `label_values(selector, label)` variable query, as Grafana runs it (/api/v1/series)."""
    selector, label = query.removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
    found = (await client.get("/api/v1/series", params={"match[]": selector})).json()["data"]
    return sorted({series[label] for series in found if label in series})


async def test_every_promql_query_returns_series(
    database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    prometheus_bin = require_program("prometheus")
    settings = service_settings(database_url, redis_url, redis_prefix)
    backend_port = free_port()
    exporters = {host: free_port() for host in HOSTS}
    prom_port = free_port()
    async with contextlib.AsyncExitStack() as stack:
        backend = await stack.enter_async_context(serve(settings, backend_port))
        push_env = {"HOSTPULSE_JSON_PUSH__TOKEN": TOKEN}
        await stack.enter_async_context(
            process(*exporter(HOSTS[0], exporters[HOSTS[0]], backend.base_url), env=push_env)
        )
        await stack.enter_async_context(process(*exporter(HOSTS[1], exporters[HOSTS[1]], None)))
        await stack.enter_async_context(
            process(
                prometheus_bin,
                f"--config.file={prometheus_config(tmp_path, exporters, backend_port)}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            )
        )
        # A refused ingest request, so hostpulse_ingest_rejected_total has a series.
        refused = await backend.client.post(
            "/ingest/metrics", content=b"{", headers={**AUTH, "Content-Type": "application/json"}
        )
        assert 400 <= refused.status_code < 500
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{prom_port}/", timeout=10)
        )
        await wait_for_samples(client, expected_targets=3, samples=8)
        end = datetime.now(UTC)
        window = TimeRange(end - timedelta(seconds=30), end, 1000, SCRAPE_S)
        step = window.interval_s

        problems: list[str] = []
        for dashboard in dashboards().values():
            if not any(v["name"] == "datasource" for v in variables(dashboard)):
                continue  # a PostgreSQL dashboard: test_sql_queries.py
            options = {}
            for variable in variables(dashboard):
                if variable["type"] == "query":
                    options[variable["name"]] = await label_values(
                        client, variable["definition"].replace("$job", ".+")
                    )
            assert options["host"] == sorted(HOSTS), "the host variable lists both hosts"
            assert options["job"] == ["hostpulse-exporter"]  # agents' jobs (target_info)
            assert options.get("backend_job", ["hostpulse-backend"]) == ["hostpulse-backend"]
            for choice in ([ALL], list(HOSTS)):  # All (allValue .+), and both ticked: (a|b)
                chosen = [
                    Variable(
                        v["name"],
                        choice if v["name"] == "host" else [ALL],
                        options[v["name"]],
                        all_value=v.get("allValue"),
                    )
                    for v in variables(dashboard)
                    if v["type"] == "query"
                ]
                for query in queries(dashboard):
                    expr = expand_promql(query.text, chosen, window, SCRAPE_S)
                    key = (dashboard["uid"], query.panel, query.ref_id)
                    got = await client.get(
                        "/api/v1/query_range",
                        params={
                            "query": expr,
                            "start": window.start.timestamp(),
                            "end": window.end.timestamp(),
                            "step": step,
                        },
                    )
                    body = got.json()
                    if body.get("status") != "success":
                        problems.append(f"{key}: {body.get('error')} in {expr}")
                        continue
                    if query.instant:  # table panels run instant queries
                        instant = await client.get(
                            "/api/v1/query", params={"query": expr, "time": end.timestamp()}
                        )
                        assert instant.json()["status"] == "success", expr
                    if key in EMPTY_BECAUSE:
                        continue
                    if not body["data"]["result"]:
                        problems.append(f"{key}: no series from {expr}")
        assert not problems, "\n".join(problems)


async def wait_for_samples(client: httpx.AsyncClient, expected_targets: int, samples: int) -> None:
    """Until every target has been scraped `samples` times (rate() needs a few points)."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            got = await client.get("/api/v1/query", params={"query": "count_over_time(up[1m])"})
            counts = [float(r["value"][1]) for r in got.json()["data"]["result"]]
            if len(counts) >= expected_targets and min(counts) >= samples:
                return
        await asyncio.sleep(0.5)
    pytest.fail(f"Prometheus did not scrape {expected_targets} targets {samples} times in 40 s")
