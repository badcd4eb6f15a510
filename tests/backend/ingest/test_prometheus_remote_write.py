"""A real Prometheus (Debian package) with `remote_write` pointed at the backend: its series appear
in the history API, authenticated with an agent token from the table."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncpg
import httpx
import pytest

from backend.auth.agent_tokens import create_token
from backend.settings import BackendSettings
from tests.backend.ingest.ingest_support import history_points, running_backend, viewer_cookies
from tests.conftest import free_port, require_program

pytestmark = [pytest.mark.slow, pytest.mark.external]


def prometheus_config(prometheus_port: int, backend_port: int, token: str) -> str:
    return f"""\
global:
  scrape_interval: 1s
  external_labels:
    replica: "r'1\\"; DROP TABLE series;--"
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ["127.0.0.1:{prometheus_port}"]
remote_write:
  - url: http://127.0.0.1:{backend_port}/api/v1/write
    authorization:
      credentials: {token}
    queue_config:
      batch_send_deadline: 1s
"""


async def test_prometheus_remote_write_reaches_history(
    database_url: str, redis_prefix: str, redis_client: object, tmp_path: Path
) -> None:
    prometheus = require_program("prometheus")
    settings = BackendSettings(
        database_url=database_url, redis_prefix=redis_prefix, port=free_port()
    )
    async with running_backend(settings) as base_url:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
        assert pool is not None
        try:
            _, token = await create_token(pool, "prometheus")
        finally:
            await pool.close()
        prometheus_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(prometheus_config(prometheus_port, settings.port, token))
        log_file = (tmp_path / "prometheus.log").open("wb")
        # Async: on SIGTERM Prometheus flushes to this very event loop's server.
        process = await asyncio.create_subprocess_exec(
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            async with httpx.AsyncClient(
                base_url=base_url, cookies=await viewer_cookies(database_url)
            ) as client:
                instance = f"127.0.0.1:{prometheus_port}"
                series = await history_points(client, host=instance, metric="up", wait_seconds=60)
                log = (tmp_path / "prometheus.log").read_text()[-2000:]
                assert series, f"no remote_write data arrived; prometheus log:\n{log}"
                [up] = series
                assert up["labels"]["job"] == "self"
                assert up["labels"]["replica"] == "r'1\"; DROP TABLE series;--"
                assert up["points"][-1]["max"] == 1
                build = await history_points(client, host=instance, metric="prometheus_build_info")
                assert build
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
            log_file.close()
