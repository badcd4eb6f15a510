"""Two real `hostpulse-backend serve` processes on one database and Redis: each once-only job
(scraping, retention, sealing, forwarding) runs in exactly one of them; a configured target is
scraped at its interval, not twice as often; every forwarded sample reaches the receiver once,
whichever process accepted it; when the process running the jobs stops, the other takes over.
(Alert notifications once across processes: tests/backend/alerts/test_two_processes.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.backend.forward.receiver import running_receiver
from tests.backend.running import AUTH, agent_report, backend_process, now_ms, wait_for
from tests.conftest import free_port

pytestmark = pytest.mark.slow

ONCE_ONLY_JOBS = ("scraping", "retention", "sealing", "forward:rx")
SCRAPE_INTERVAL = 0.5


@dataclass
class ScrapeTarget:
    url: str = ""
    scraped_at: list[float] = field(default_factory=list)

    async def metrics(self, request: Request) -> PlainTextResponse:
        self.scraped_at.append(time.monotonic())
        return PlainTextResponse("# TYPE jobs_waiting gauge\njobs_waiting 3\n")

    def scrapes_between(self, start: float, end: float) -> int:
        return sum(start <= at < end for at in self.scraped_at)


@contextlib.asynccontextmanager
async def scrape_target() -> AsyncIterator[ScrapeTarget]:
    target = ScrapeTarget()
    app = Starlette(routes=[Route("/metrics", target.metrics)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    target.url = f"http://127.0.0.1:{port}/metrics"
    try:
        yield target
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def leading_jobs(client: httpx.AsyncClient) -> set[str]:
    text = (await client.get("/metrics")).text
    return set(re.findall(r'^hostpulse_job_leading\{job="([^"]+)"\} 1\.0$', text, re.M))


async def test_once_only_jobs_run_in_one_process_and_move_when_it_stops(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: object
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        target = await stack.enter_async_context(scrape_target())
        receiver = await stack.enter_async_context(running_receiver([]))
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "HOSTPULSE_REDIS_PREFIX": redis_prefix,
            "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": "hp_service-tests-bootstrap-token",
            "HOSTPULSE_LOG_LEVEL": "warning",
            "HOSTPULSE_TAKEOVER_INTERVAL": "0.3s",
            "HOSTPULSE_SCRAPE_TARGETS": json.dumps(
                [{"url": target.url, "interval": SCRAPE_INTERVAL, "host": "scraped"}]
            ),
            "HOSTPULSE_FORWARD__TARGETS": json.dumps([{"url": receiver.url, "name": "rx"}]),
            "HOSTPULSE_FORWARD__FLUSH_INTERVAL": "0.1s",
        }
        first_stack = contextlib.AsyncExitStack()
        stack.push_async_callback(first_stack.aclose)
        first_url = await first_stack.enter_async_context(backend_process(env))
        second_url = await stack.enter_async_context(backend_process(env))
        first = await stack.enter_async_context(httpx.AsyncClient(base_url=first_url, timeout=10))
        second = await stack.enter_async_context(httpx.AsyncClient(base_url=second_url, timeout=10))

        async def all_jobs_led() -> bool:
            return (await leading_jobs(first)) | (await leading_jobs(second)) == set(ONCE_ONLY_JOBS)

        await wait_for(all_jobs_led, within=20, what="every once-only job to have a runner")
        assert not (await leading_jobs(first)) & (await leading_jobs(second))
        assert await leading_jobs(first) == set(ONCE_ONLY_JOBS), "the first process started first"

        window_start = time.monotonic()
        start = now_ms() - 20_000
        accepted = 0
        for i in range(10):
            client = first if i % 2 else second
            report = agent_report("two-procs", seq=i + 1, time_ms=start + i * 1000)
            response = await client.post("/ingest/metrics", json=report, headers=AUTH)
            assert response.status_code == 200, response.text
            accepted += response.json()["samples"]
        await asyncio.sleep(max(0.0, window_start + 4.0 - time.monotonic()))
        scrapes = target.scrapes_between(window_start, window_start + 4.0)
        # One scraper: ~8 scrapes in 4 s; one per process would make ~16.
        assert 6 <= scrapes <= 10, f"{scrapes} scrapes in 4 s at a {SCRAPE_INTERVAL} s interval"

        def forwarded() -> list[tuple[str, int]]:
            return [
                (",".join(f"{k}={v}" for k, v in sorted(labels.items())), time_ms)
                for request in receiver.received
                for labels, points in request.series
                if labels.get("host_name") == "two-procs"
                for time_ms, _ in points
            ]

        async def all_forwarded() -> bool:
            return len(forwarded()) >= accepted

        await wait_for(all_forwarded, within=20, what="every accepted sample to be forwarded")
        await asyncio.sleep(0.5)
        assert len(forwarded()) == len(set(forwarded())) == accepted, "a sample was sent twice"

        # The process running the jobs stops: the other takes every one of them over.
        await first_stack.aclose()

        async def taken_over() -> bool:
            return await leading_jobs(second) == set(ONCE_ONLY_JOBS)

        await wait_for(taken_over, within=10, what="the second process to take the jobs over")
        before = len(target.scraped_at)
        await asyncio.sleep(4 * SCRAPE_INTERVAL)
        assert len(target.scraped_at) > before, "nobody scrapes after the first process stopped"
