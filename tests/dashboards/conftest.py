"""A real backend (PostgreSQL, Redis) and the dashboard app, both under uvicorn in the test's event
loop on free ports, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, Page, async_playwright

from backend.alerts.settings import AlertingSettings
from dashboards.app import DashboardSettings, create_app
from tests.backend.running import RunningBackend, serve, service_settings
from tests.conftest import free_port, require_program

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboards"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI, port: int) -> AsyncIterator[str]:
    """Any ASGI app under uvicorn on 127.0.0.1:port in this loop; stopped on exit."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
            pytest.fail("the dashboard app stopped during start-up")
        if time.monotonic() > deadline:
            pytest.fail("the dashboard app did not start within 20s")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@dataclass
class Stack:
    backend: RunningBackend
    dashboard_url: str
    database_url: str


@pytest.fixture
async def stack(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> AsyncIterator[Stack]:
    dashboard_port = free_port()
    origin = f"http://127.0.0.1:{dashboard_port}"
    settings = service_settings(
        database_url,
        redis_url,
        redis_prefix,
        cors_origins=[origin],
        alerting=AlertingSettings(load_defaults=False, tick_interval=0.5),
    )
    async with serve(settings) as backend:
        app = create_app(DashboardSettings(backend_url=backend.base_url))
        async with serve_app(app, dashboard_port) as url:
            yield Stack(backend, url, database_url)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    chromium = require_program("chromium")
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            await launched.close()


# Where module_page's backend would be: nothing listens there, and the CSP allows it.
UNREACHABLE_BACKEND = "http://127.0.0.1:9"


@pytest.fixture
async def module_page(browser: Browser) -> AsyncIterator[Page]:
    """A page on the dashboard's origin that has not started the app: a test imports the UI's
    modules (`await import("/static/js/...")`) and drives them itself."""
    app = create_app(DashboardSettings(backend_url=UNREACHABLE_BACKEND))
    async with serve_app(app, free_port()) as url:
        page = await browser.new_page()
        await page.goto(f"{url}/static/style.css")
        yield page
        await page.close()


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / name)
