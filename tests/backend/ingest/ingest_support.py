"""Helpers for the ingest tests: a tiny app around the ingest router with real PostgreSQL
(tokens) and Redis (dedup) and a recording pipeline instead of the storage writer, so each test
sees exactly what ingest hands downstream; and agent documents in the v1 format."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI
from google.rpc.status_pb2 import Status

from backend.api.errors import install_error_handlers
from backend.api.routes.ingest import router
from backend.live.hub import LiveHub
from backend.live.redis_bridge import live_channel, live_subscriber
from backend.live.summary_feed import SummaryFeed, summary_channel
from backend.model import IngestBatch, Overloaded, Sample, SampleSink
from backend.self_metrics import BackendMetrics
from backend.services import assemble_services
from backend.settings import BackendSettings
from backend.storage.redis_window import RecentWindow
from backend.storage.writer import SampleWriter

BOOTSTRAP_TOKEN = "hp_bootstrap-token-for-tests-only"


@dataclass
class RecordingPipeline:
    batches: list[IngestBatch] = field(default_factory=list)
    overloaded: bool = False

    async def accept(self, batch: IngestBatch) -> None:
        if self.overloaded:
            raise Overloaded(3)
        self.batches.append(batch)

    @property
    def samples(self) -> list[Sample]:
        return [s for b in self.batches for s in b.samples]


@dataclass
class IngestHarness:
    app: FastAPI
    client: httpx.AsyncClient
    pipeline: RecordingPipeline
    pool: Any  # None in the light harness
    token: str

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


def now_ms() -> int:
    return int(time.time() * 1000)


def build_app(
    settings: BackendSettings, pool: Any, redis: aioredis.Redis, pipeline: SampleSink
) -> FastAPI:
    """The ingest router on the services the lifespan would build, with `pipeline` in place of
    the real one (nothing is started: ingest only calls the pipeline, tokens and Redis)."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    metrics = BackendMetrics()
    hub = LiveHub(metrics)
    prefix = settings.redis_prefix
    window = RecentWindow(redis, prefix=prefix, window_seconds=settings.recent_window)
    app.state.services = assemble_services(
        settings,
        metrics,
        pool,
        redis,
        SampleWriter(pool),
        window,
        hub,
        live_subscriber(settings.redis_url, live_channel(prefix), hub),
        SummaryFeed(
            settings.redis_url,
            redis,
            channel=summary_channel(prefix),
            summaries_key=window.summaries_key,
            hub=hub,
            stale_after=settings.host_stale_after,
            flush_interval=settings.live_summary_flush,
            load_alerts=_no_alerts,
        ),
        pipeline,
    )
    return app


async def _no_alerts() -> list[tuple[str, dict[str, str], str]]:
    return []


def iso(time_ms: int) -> str:
    seconds, millis = divmod(time_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def document(
    *, seq: int = 1, time_ms: int | None = None, host: str = "web-1", reports: int = 1
) -> dict[str, Any]:
    """An agent batch in the v1 format, small but with every section filled."""
    at = time_ms if time_ms is not None else now_ms()
    return {
        "schema_version": 1,
        "agent": {"name": "hostpulse-exporter", "version": "0.1.0", "instance_id": "inst-1"},
        "reports": [
            {
                "seq": seq + i,
                "timestamp": iso(at + i * 1000),
                "host": {"name": host, "id": "host-id-1"},
                "metrics": [
                    {
                        "name": "system.cpu.utilization",
                        "unit": "1",
                        "type": "gauge",
                        "points": [{"attributes": {"cpu.logical_number": "0"}, "value": 0.25}],
                    },
                    {
                        "name": "system.cpu.time",
                        "unit": "s",
                        "type": "counter",
                        "points": [
                            {"attributes": {"cpu.mode": "user"}, "value": 1234.5},
                            {"attributes": {"cpu.mode": "system"}, "value": 321.0},
                        ],
                    },
                    {
                        "name": "system.memory.usage",
                        "unit": "By",
                        "type": "updowncounter",
                        "points": [{"attributes": {"system.memory.state": "used"}, "value": 1e9}],
                    },
                ],
                "processes": [
                    {
                        "rank": 1,
                        "pid": 123,
                        "name": "python3",
                        "cpu_utilization": 0.5,
                        "memory_rss_bytes": 1048576,
                        "memory_virtual_bytes": 2097152,
                        "threads": 3,
                        "disk_read_bytes": None,
                        "disk_write_bytes": None,
                        "open_fds": 7,
                    }
                ],
                "collectors": [{"name": "cpu", "duration_seconds": 0.0012, "success": True}],
            }
            for i in range(reports)
        ],
    }


@asynccontextmanager
async def running_backend(settings: BackendSettings) -> AsyncIterator[str]:
    """The real app (`create_app`) served by uvicorn on 127.0.0.1:settings.port; yields its URL."""
    from backend.app import create_app

    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                if task.done():
                    task.result()  # raises the start-up error
                    raise RuntimeError("uvicorn exited before it started")
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def viewer_cookies(database_url: str) -> dict[str, str]:
    """Session cookies of a logged-in viewer: the read API needs one."""
    from tests.backend.auth.support import ensure_session

    return {"hostpulse_session": await ensure_session(database_url, "viewer", "viewer")}


async def history_points(
    client: httpx.AsyncClient, *, host: str, metric: str, wait_seconds: float = 30
) -> list[dict[str, Any]]:
    """The history API's series for host+metric, polled until some exist (the writer is async)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        response = await client.get("/api/metrics/history", params={"host": host, "metric": metric})
        response.raise_for_status()
        series: list[dict[str, Any]] = response.json()["series"]
        # A new series' id is committed before its first samples: wait for points too.
        if (series and all(s["points"] for s in series)) or time.monotonic() > deadline:
            return series
        await asyncio.sleep(0.2)


def error_message(response: httpx.Response) -> str:
    """The refusal's message in whichever format the receiver answers: JSON `detail` (agent JSON
    and the admin API), a `google.rpc.Status` (OTLP, protobuf or JSON) or text (remote_write)."""
    media = response.headers.get("content-type", "").split(";", 1)[0].strip()
    if response.request.url.path == "/v1/metrics":
        if media == "application/json":
            message: str = response.json()["message"]
            return message
        status_message: str = Status.FromString(response.content).message
        return status_message
    if media == "text/plain":
        return response.text
    detail: str = response.json()["detail"]
    return detail
