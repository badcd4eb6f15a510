"""The backend scrapes a real node_exporter (Debian package) and the HostPulse exporter;
`up` and their series are recorded and readable through the history API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backend.settings import BackendSettings, ScrapeTarget
from tests.backend.ingest.ingest_support import history_points, running_backend, viewer_cookies
from tests.conftest import free_port, require_program

pytestmark = [pytest.mark.slow, pytest.mark.external]

# The console script beside the interpreter running the tests (the project's virtualenv).
EXPORTER = Path(sys.executable).parent / "hostpulse-exporter"


@contextlib.asynccontextmanager
async def process(*argv: str, log: Path) -> AsyncIterator[None]:
    with log.open("wb") as sink:
        child = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.DEVNULL, stderr=sink)
        try:
            yield
        finally:
            child.terminate()
            await asyncio.wait_for(child.wait(), 30)


def hostpulse_exporter() -> str:
    found = shutil.which("hostpulse-exporter") or (str(EXPORTER) if EXPORTER.exists() else None)
    if found is None:
        message = "hostpulse-exporter CLI is not installed (pip install -e .)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


async def test_scrapes_node_exporter_and_hostpulse_exporter(
    database_url: str, redis_prefix: str, redis_client: object, tmp_path: Path
) -> None:
    node_exporter = require_program("prometheus-node-exporter")
    exporter = hostpulse_exporter()
    node_port, exporter_port, dead_port = free_port(), free_port(), free_port()
    settings = BackendSettings(
        database_url=database_url,
        redis_prefix=redis_prefix,
        port=free_port(),
        scrape_targets=[
            ScrapeTarget(url=f"http://127.0.0.1:{node_port}/metrics", interval=1, host="node-host"),
            ScrapeTarget(url=f"http://127.0.0.1:{exporter_port}/metrics", interval=1),
            ScrapeTarget(url=f"http://127.0.0.1:{dead_port}/metrics", interval=1, timeout=1),
        ],
    )
    async with (
        process(
            node_exporter, f"--web.listen-address=127.0.0.1:{node_port}", log=tmp_path / "ne.log"
        ),
        process(
            exporter,
            "--listen",
            f"127.0.0.1:{exporter_port}",
            "--interval",
            "1s",
            "--host-name",
            "hp-host",
            log=tmp_path / "hp.log",
        ),
        running_backend(settings) as base_url,
        httpx.AsyncClient(base_url=base_url, cookies=await viewer_cookies(database_url)) as client,
    ):
        expected = {
            "node-host": 1.0,
            f"127.0.0.1:{exporter_port}": 1.0,
            f"127.0.0.1:{dead_port}": 0.0,
        }
        ups = {host: await latest_up(client, host, value) for host, value in expected.items()}
        assert ups == expected
        [node_up] = await history_points(client, host="node-host", metric="up")
        assert node_up["labels"] == {"instance": f"127.0.0.1:{node_port}"}
        assert await history_points(client, host="node-host", metric="node_load1")
        cpu = await history_points(
            client, host=f"127.0.0.1:{exporter_port}", metric="system_cpu_time_seconds_total"
        )
        assert cpu, (tmp_path / "hp.log").read_text()[-2000:]


async def latest_up(client: httpx.AsyncClient, host: str, expected: float) -> float | None:
    """The host's latest `up` value, polled until it equals `expected` or 45 s have passed
    (an exporter may still be starting at the first scrape)."""
    latest = None
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        response = await client.get("/api/metrics/history", params={"host": host, "metric": "up"})
        series = response.json()["series"]
        if series:
            latest = series[0]["points"][-1]["max"]
            if latest == expected:
                break
        await asyncio.sleep(0.5)
    return latest
