"""The real HostPulse exporter pushes its JSON reports to the real backend with an agent token:
every report passes the schema and the translator, and is readable in history."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from backend.auth.agent_tokens import create_token
from backend.ingest import json_report, report_schema_check
from backend.ingest.limits import IngestLimits
from backend.settings import BackendSettings
from tests.backend.ingest.ingest_support import history_points, running_backend, viewer_cookies
from tests.conftest import free_port

EXPORTER = Path(sys.executable).with_name("hostpulse-exporter")


def hostpulse_exporter() -> str:
    found = shutil.which("hostpulse-exporter") or (str(EXPORTER) if EXPORTER.exists() else None)
    if found is None:
        pytest.skip("hostpulse-exporter CLI is not installed (pip install -e .)")
    return found


def test_the_exporters_once_output_translates_cleanly() -> None:
    output = subprocess.run(
        [hostpulse_exporter(), "--once", "--host-name", "once-host"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    document = json.loads(output)
    report_schema_check.validate_document(document)
    [report] = json_report.translate_document(
        document, now_ms=int(time.time() * 1000), limits=IngestLimits()
    )
    names = {s.name for s in report.samples}
    assert {"system_cpu_time_seconds_total", "system_memory_usage_bytes"} <= names
    assert {s.host for s in report.samples} == {"once-host"}


@pytest.mark.slow
async def test_exporter_push_reaches_history(
    database_url: str, redis_prefix: str, redis_client: object, tmp_path: Path
) -> None:
    exporter = hostpulse_exporter()
    settings = BackendSettings(
        database_url=database_url, redis_prefix=redis_prefix, port=free_port()
    )
    async with running_backend(settings) as base_url:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
        assert pool is not None
        try:
            _, token = await create_token(pool, "exporter")
        finally:
            await pool.close()
        token_file = tmp_path / "token"
        token_file.write_text(token)
        with (tmp_path / "exporter.log").open("wb") as log:
            child = await asyncio.create_subprocess_exec(
                exporter,
                "--no-prometheus",
                "--interval",
                "1s",
                "--host-name",
                "json-host",
                "--backend-url",
                f"{base_url}/ingest/metrics",
                "--token-file",
                str(token_file),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            try:
                async with httpx.AsyncClient(
                    base_url=base_url, cookies=await viewer_cookies(database_url)
                ) as client:
                    series = await history_points(
                        client, host="json-host", metric="system_cpu_time_seconds_total"
                    )
                    assert series, (tmp_path / "exporter.log").read_text()[-2000:]
                    recent = await client.get("/api/metrics/recent", params={"host": "json-host"})
                    assert recent.status_code == 200
            finally:
                child.terminate()
                await asyncio.wait_for(child.wait(), 30)
