"""Forwarding to a real Prometheus (Debian package) started with `--web.enable-remote-write-
receiver`: what HostPulse accepts over JSON, OTLP and remote_write is queryable there with its
names, labels, timestamps and values; stopped and started again, it receives everything sent in
the meantime, in order, nothing twice.

The outage lasts HOSTPULSE_TEST_FORWARD_OUTAGE seconds: 15 in the suite; the issue's 60-second
form is `HOSTPULSE_TEST_FORWARD_OUTAGE=60 .venv/bin/python -m pytest <this file>`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cramjam
import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from backend.forward.settings import ForwardSettings, ForwardTarget
from backend.forward.stats import ForwardStats
from backend.protos.remote_pb2 import WriteRequest
from tests.backend.running import (
    AUTH,
    RunningBackend,
    agent_report,
    now_ms,
    running_services,
    serve,
    service_settings,
    wait_for,
)
from tests.conftest import free_port, require_program

pytestmark = [pytest.mark.slow, pytest.mark.external]

OUTAGE_SECONDS = float(os.environ.get("HOSTPULSE_TEST_FORWARD_OUTAGE", "15"))


def prometheus_files(data: Path) -> Path:
    """Its data directory and a config file with nothing to scrape."""
    data.mkdir(exist_ok=True)
    config = data.parent / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    return config


@contextlib.asynccontextmanager
async def prometheus_receiver(port: int, data: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Prometheus with its remote-write receiver on `port`, its TSDB in `data` (kept between
    starts), ready to take writes."""
    program = require_program("prometheus")
    config = prometheus_files(data)
    log = (data.parent / "prometheus.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        program,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-remote-write-receiver",
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        async with httpx.AsyncClient() as client:

            async def ready() -> bool:
                try:
                    response = await client.get(f"http://127.0.0.1:{port}/-/ready")
                except httpx.HTTPError:
                    return False
                return response.status_code == 200

            await wait_for(ready, within=30, what="Prometheus to be ready")
        yield process
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        log.close()


def forwarding_to(port: int) -> ForwardSettings:
    target = ForwardTarget(
        url=f"http://127.0.0.1:{port}/api/v1/write",
        name="prometheus",
        extra_labels={"hostpulse_host": "hp-test"},
        max_backoff=1.0,
    )
    return ForwardSettings(targets=[target], flush_interval=0.1)


def stats_of(backend: RunningBackend) -> ForwardStats:
    [stats] = running_services(backend).metrics.forward_stats
    return stats


async def query_samples(port: int, selector: str) -> dict[str, list[tuple[int, float]]]:
    """Every stored sample of the series `selector` matches in the last 30 minutes, by metric
    name plus labels (rendered as a sorted string), as (unix ms, value)."""
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"http://127.0.0.1:{port}/api/v1/query",
            params={"query": f"{selector}[30m]", "time": str(time.time() + 60)},
        )
    response.raise_for_status()
    found: dict[str, list[tuple[int, float]]] = {}
    for series in response.json()["data"]["result"]:
        key = ",".join(f"{k}={v}" for k, v in sorted(series["metric"].items()))
        found[key] = [(round(float(t) * 1000), float(v)) for t, v in series["values"]]
    return found


def remote_write_body(series: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]) -> bytes:
    request: Any = WriteRequest()
    for labels, points in series.items():
        added = request.timeseries.add()
        for label_name, label_value in labels:
            added.labels.add(name=label_name, value=label_value)
        for time_ms, value in points:
            added.samples.add(value=value, timestamp=time_ms)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def otlp_body(host: str, time_ms: int, value: float) -> bytes:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.append(
        KeyValue(key="host.name", value=AnyValue(string_value=host))
    )
    metric = resource.scope_metrics.add().metrics.add(name="app.queue.depth", unit="{item}")
    point = metric.gauge.data_points.add(as_double=value, time_unix_nano=time_ms * 1_000_000)
    point.attributes.append(KeyValue(key="queue", value=AnyValue(string_value="mail")))
    return request.SerializeToString()


async def post(client: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str]) -> None:
    response = await client.post(path, content=body, headers={**AUTH, **headers})
    assert response.status_code in (200, 202, 204), (
        f"{path}: {response.status_code} {response.text}"
    )


REMOTE_WRITE = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}


async def test_every_ingest_path_reaches_prometheus(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: object, tmp_path: Path
) -> None:
    port = free_port()
    t = now_ms() - 5_000
    async with prometheus_receiver(port, tmp_path / "data"):
        settings = service_settings(
            database_url,
            redis_url,
            redis_prefix,
            forward=forwarding_to(port),
            takeover_interval=0.2,
        )
        async with serve(settings) as backend:
            client = backend.client
            report = agent_report("fwd-json", time_ms=t, cores=2)
            response = await client.post("/ingest/metrics", json=report, headers=AUTH)
            assert response.status_code == 200, response.text
            await post(
                client,
                "/v1/metrics",
                otlp_body("fwd-otlp", t, 42.5),
                {"Content-Type": "application/x-protobuf"},
            )
            rw_labels = (("__name__", "rw_jobs_waiting"), ("host_name", "fwd-rw"), ("job", "q"))
            await post(
                client,
                "/api/v1/write",
                remote_write_body({rw_labels: [(t, 1.0), (t + 1000, 2.0)]}),
                REMOTE_WRITE,
            )

            stats = stats_of(backend)

            async def all_sent() -> bool:
                return stats.sent_samples >= 8 and stats.queue_samples == 0

            await wait_for(all_sent, within=30, what="the samples to be sent")
            assert stats.failed_samples == 0

        json_series = await query_samples(port, '{host_name="fwd-json"}')
        otlp_series = await query_samples(port, '{host_name="fwd-otlp"}')
        rw_series = await query_samples(port, '{host_name="fwd-rw"}')

    common = "host_name=fwd-json,hostpulse_host=hp-test"
    for cpu in (0, 1):
        key = f"__name__=system_cpu_utilization_ratio,cpu_logical_number={cpu},{common}"
        assert json_series[key] == [(t, 0.1 * (cpu + 1))], sorted(json_series)
    memory = [k for k in json_series if k.startswith("__name__=system_memory_usage_bytes,")]
    assert memory, sorted(json_series)
    assert json_series[memory[0]] == [(t, 1e9)]
    assert "system_memory_state=used" in memory[0]

    assert otlp_series == {
        "__name__=app_queue_depth,host_name=fwd-otlp,hostpulse_host=hp-test,queue=mail": [(t, 42.5)]
    }

    assert rw_series == {
        "__name__=rw_jobs_waiting,host_name=fwd-rw,hostpulse_host=hp-test,job=q": [
            (t, 1.0),
            (t + 1000, 2.0),
        ]
    }


async def test_a_stopped_target_gets_everything_in_order_once_back(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: object, tmp_path: Path
) -> None:
    port = free_port()
    data = tmp_path / "data"
    series = [
        (("__name__", "outage_seq"), ("host_name", "fwd-outage"), ("n", str(n))) for n in (1, 2)
    ]
    posted: list[tuple[int, float]] = []
    start = now_ms() - 1000 * int(OUTAGE_SECONDS + 60)  # so that no point is in the future

    async def post_step(client: httpx.AsyncClient) -> None:
        i = len(posted)
        point = (start + i * 500, float(i))
        posted.append(point)
        await post(
            client, "/api/v1/write", remote_write_body({s: [point] for s in series}), REMOTE_WRITE
        )

    settings = service_settings(
        database_url, redis_url, redis_prefix, forward=forwarding_to(port), takeover_interval=0.2
    )
    async with serve(settings) as backend:
        stats = stats_of(backend)
        async with prometheus_receiver(port, data):
            for _ in range(5):
                await post_step(backend.client)
                await asyncio.sleep(0.1)

            async def first_part_sent() -> bool:
                return stats.sent_samples == 2 * len(posted)

            await wait_for(first_part_sent, within=30, what="the first samples to be sent")
        outage_ends = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < outage_ends:  # the target is down: HostPulse takes on
            await post_step(backend.client)
            await asyncio.sleep(0.25)
        assert stats.retried_samples > 0, "nothing was tried during the outage"
        assert stats.queue_samples > 0
        async with prometheus_receiver(port, data):
            for _ in range(5):
                await post_step(backend.client)
                await asyncio.sleep(0.1)

            async def everything_sent() -> bool:
                return stats.sent_samples == 2 * len(posted) and stats.queue_samples == 0

            await wait_for(everything_sent, within=60, what="the queue to drain")
            # Prometheus refuses out-of-order samples with a 4xx, which would count as failed.
            assert (stats.failed_samples, stats.dropped_samples) == (0, 0)
            stored = await query_samples(port, '{__name__="outage_seq"}')
    assert sorted(stored) == [
        f"__name__=outage_seq,host_name=fwd-outage,hostpulse_host=hp-test,n={n}" for n in (1, 2)
    ]
    for points in stored.values():
        assert points == posted  # all of them, each once, in order
