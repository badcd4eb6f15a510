"""The shipped Prometheus and Alertmanager configs, run for real (Debian's packages).

1. Prometheus started with collector-config/prometheus/prometheus.yml scrapes two real
   `hostpulse-exporter` processes — one as the static job's target, one as an agent pod found by
   the pod job — and its remote_write, authenticated with the token file, lands in a real backend
   with `host_name` turned into each sample's host. Adjusted by the test: ports, the token file's
   path, 1 s intervals, and (Debian's Prometheus has no Kubernetes SD) the pod job's discovery,
   swapped for file SD with the labels Kubernetes SD sets (prometheus_files.py).
2. Prometheus with the shipped rules and Alertmanager with the shipped routing deliver the
   HostPulseAgentStale alert for an agent that cannot be scraped to a webhook (pytest-httpserver),
   then its resolution once the agent runs. Adjusted: ports, the webhook URL, 1 s group timers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pytest_httpserver import HTTPServer

from tests.backend.running import TOKEN, serve, service_settings
from tests.collector_config.prometheus_files import (
    ALERTMANAGER_YML,
    PODS_JOB,
    PROMETHEUS_YML,
    STATIC_JOB,
    job,
    load,
    pod_target,
    without_kubernetes_sd,
)
from tests.conftest import free_port, require_program

pytestmark = [pytest.mark.slow, pytest.mark.external]


@contextlib.asynccontextmanager
async def process(*argv: str, log: Path | None = None) -> AsyncIterator[None]:
    output = log.open("wb") if log else None
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(os.environ),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=output or asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if output:
            output.close()


def exporter(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "exporter.cli", "--host-name", host, "--interval", "1s",
        "--listen", f"127.0.0.1:{port}", "--log-level", "error",
    ]  # fmt: skip


def prometheus(config: Path, data: Path, port: int) -> list[str]:
    return [
        require_program("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s",
    ]


def shipped_config(static_target: str) -> dict[str, Any]:
    """The shipped config at 1 s intervals with the static job pointed at `static_target`."""
    config: dict[str, Any] = load(PROMETHEUS_YML)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    [group] = job(config, STATIC_JOB)["static_configs"]
    group["targets"] = [static_target]
    return config


async def history(client: httpx.AsyncClient, host: str, metric: str) -> list[dict[str, Any]]:
    got = await client.get("/api/metrics/history", params={"host": host, "metric": metric})
    if got.status_code == 404:
        return []
    got.raise_for_status()
    series: list[dict[str, Any]] = got.json()["series"]
    return [s for s in series if s["points"]]


async def wait_for_history(
    client: httpx.AsyncClient, host: str, metric: str, log: Path
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        series = await history(client, host, metric)
        if series:
            return series
        await asyncio.sleep(0.5)
    tail = await asyncio.to_thread(log.read_text)
    pytest.fail(f"no {metric} of {host} reached the backend; prometheus log:\n{tail[-3000:]}")


async def recorded_hosts(prom_port: int, query: str, wanted: int) -> set[str]:
    """The `host_name`s of `query`'s result once it holds `wanted` of them (or after 30 s)."""
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{prom_port}") as prom:
        while True:
            answer = await prom.get("/api/v1/query", params={"query": query})
            hosts = {r["metric"]["host_name"] for r in answer.json()["data"]["result"]}
            if len(hosts) >= wanted or time.monotonic() > deadline:
                return hosts
            await asyncio.sleep(0.5)


async def test_prometheus_scrapes_agents_and_remote_writes_them_to_the_backend(
    database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    static_port, pod_port, prom_port, backend_port = (free_port() for _ in range(4))
    config = shipped_config(f"127.0.0.1:{static_port}")
    config.pop("alerting")  # no Alertmanager in this test
    # A job that is not a HostPulse agent: remote_write must leave its series out.
    config["scrape_configs"].append(
        {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{prom_port}"]}]}
    )
    [remote] = config["remote_write"]
    token_file = tmp_path / "agent-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    remote["url"] = f"http://127.0.0.1:{backend_port}/api/v1/write"
    remote["authorization"]["credentials_file"] = str(token_file)
    remote["queue_config"]["batch_send_deadline"] = "1s"
    pods = [
        # The pod's discovered address has another port; its annotation names the agent's.
        pod_target("127.0.0.1:1", "node-a", str(pod_port)),
        pod_target("127.0.0.1:2", "node-b", str(pod_port), scrape="false"),
    ]
    config_path = without_kubernetes_sd(tmp_path, pods, config)
    log = tmp_path / "prometheus.log"

    settings = service_settings(database_url, redis_url, redis_prefix)
    async with contextlib.AsyncExitStack() as stack:
        backend = await stack.enter_async_context(serve(settings, backend_port))
        # The agents' own names differ from what Prometheus assigns: the target's label wins.
        await stack.enter_async_context(process(*exporter("static-agent-name", static_port)))
        await stack.enter_async_context(process(*exporter("pod-agent-name", pod_port)))
        await stack.enter_async_context(
            process(*prometheus(config_path, tmp_path / "data", prom_port), log=log)
        )
        client = backend.client
        static = await wait_for_history(client, "127.0.0.1", "system_cpu_utilization_ratio", log)
        pod = await wait_for_history(client, "node-a", "system_cpu_utilization_ratio", log)

        assert {s["labels"]["job"] for s in static} == {STATIC_JOB}
        assert {s["labels"]["job"] for s in pod} == {PODS_JOB}
        assert {(s["labels"]["namespace"], s["labels"]["pod"]) for s in pod} == {
            ("hostpulse-agent", "hostpulse-agent-node-a")
        }
        modes = {s["labels"].get("cpu_mode") for s in pod}
        assert {"idle", "user"} <= modes
        [up] = await wait_for_history(client, "node-a", "up", log)
        assert up["points"][-1]["max"] == 1

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{prom_port}") as prom:
            targets = (await prom.get("/api/v1/targets")).json()["data"]["activeTargets"]
        pod_targets = [t for t in targets if t["labels"]["job"] == PODS_JOB]
        assert [t["scrapeUrl"] for t in pod_targets] == [f"http://127.0.0.1:{pod_port}/metrics"]
        assert pod_targets[0]["labels"]["host_name"] == "node-a"
        # Prometheus's own series were scraped and sent along with the agents' (remote_write
        # sends every batch mixed): none arrived, nor any host named by an agent itself.
        assert await history(client, f"127.0.0.1:{prom_port}", "up") == []
        # Nor did the recording rules' results (loaded, and labelled with the agents' job). A
        # host's result needs two of its scrapes (a rate) and a rule evaluation after them,
        # which may come after its first samples reached the backend: wait for both hosts.
        assert await recorded_hosts(prom_port, "host_name:system_cpu_busy:ratio", 2) == {
            "127.0.0.1",
            "node-a",
        }
        await asyncio.sleep(3)  # a few more remote_write batches (batch_send_deadline 1s)
        assert await history(client, "node-a", "host_name:system_cpu_busy:ratio") == []
        assert await history(client, "node-a", "up") != []
        hosts = (await client.get("/api/hosts")).json()["hosts"]
        assert sorted(h["name"] for h in hosts) == ["127.0.0.1", "node-a"]


async def test_an_unreachable_agent_alerts_through_alertmanager_to_a_webhook(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    alertmanager_bin = require_program("prometheus-alertmanager")
    agent_port, prom_port, am_port = (free_port() for _ in range(3))
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")

    am_config = load(ALERTMANAGER_YML)
    [receiver] = am_config["receivers"]
    receiver["webhook_configs"][0]["url"] = httpserver.url_for("/alerts")
    for route in [am_config["route"], *am_config["route"]["routes"]]:
        route.update(group_wait="1s", group_interval="1s")
    am_path = tmp_path / "alertmanager.yml"
    am_path.write_text(yaml.safe_dump(am_config))

    config = shipped_config(f"127.0.0.1:{agent_port}")  # nothing listens there yet
    config.pop("remote_write")  # no backend in this test
    [am] = config["alerting"]["alertmanagers"]
    am["static_configs"] = [{"targets": [f"127.0.0.1:{am_port}"]}]
    config_path = without_kubernetes_sd(tmp_path, [], config)

    def notifications() -> list[dict[str, Any]]:
        return [request.get_json() for request, _ in httpserver.log]

    async def wait_for(status: str, within: float) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for body in notifications():
                if body["status"] == status:
                    return body
            await asyncio.sleep(0.5)
        pytest.fail(f"no {status} notification in {within}s; got {notifications()}")

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(
            process(
                alertmanager_bin,
                f"--config.file={am_path}",
                f"--storage.path={tmp_path / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            )
        )
        await stack.enter_async_context(
            process(*prometheus(config_path, tmp_path / "data", prom_port), log=tmp_path / "p.log")
        )
        started = time.monotonic()
        firing = await wait_for("firing", within=90)
        assert time.monotonic() - started >= 30, "not before the rule's `for: 30s`"
        [alert] = firing["alerts"]
        assert alert["labels"]["alertname"] == "HostPulseAgentStale"
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["host_name"] == "127.0.0.1"
        assert alert["annotations"]["summary"] == "No data from 127.0.0.1"
        assert firing["receiver"] == "hostpulse-webhook"

        await stack.enter_async_context(process(*exporter("agent", agent_port)))
        resolved = await wait_for("resolved", within=60)
        assert resolved["alerts"][0]["labels"]["alertname"] == "HostPulseAgentStale"
