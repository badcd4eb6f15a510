"""The dashboard's image run for real with podman (read-only root, its non-root user) beside the
backend's image, against the machine's PostgreSQL and Redis; Debian's Chromium (Playwright) logs in
to the UI the dashboard container serves and sees a host that reported to the backend container."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from tests.backend.auth.support import PASSWORD, make_user
from tests.backend.running import agent_report
from tests.conftest import free_port, require_program
from tests.images.fixtures import IMAGE_TEST_TIMEOUT
from tests.images.podman import run_container
from tests.images.support import IMAGE_UID, host_pid, process_ids, unique, write_attempt
from tests.images.test_backend_image import TOKEN, backend_container, healthcheck

pytestmark = [pytest.mark.images, pytest.mark.timeout(IMAGE_TEST_TIMEOUT)]

CHROMIUM_FLAGS = [  # ../shared/docs/recipes.md
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LONG = 30_000  # ms: generous waits on a busy 2-core machine


async def test_chromium_logs_in_to_the_dashboard_container_and_sees_a_reporting_host(
    podman_env: dict[str, str],
    hostpulse_images: dict[str, str],
    empty_database_url: str,
    redis_url: str,
    redis_prefix: str,
    sync_cleanup_redis: None,
) -> None:
    chromium = require_program("chromium")
    dashboard_port = free_port()
    origin = f"http://127.0.0.1:{dashboard_port}"
    node = unique("node")
    cors = {"HOSTPULSE_CORS_ORIGINS": f'["{origin}"]'}
    with backend_container(
        podman_env,
        hostpulse_images["backend"],
        empty_database_url,
        redis_url,
        redis_prefix,
        extra=cors,
    ) as (_, backend_url):
        environment = {
            "HOSTPULSE_DASHBOARD_HOST": "127.0.0.1",
            "HOSTPULSE_DASHBOARD_PORT": str(dashboard_port),
            "HOSTPULSE_BACKEND_URL": backend_url,
        }
        with run_container(
            podman_env,
            hostpulse_images["dashboard"],
            name=unique("hp-dashboard"),
            environment=environment,
        ) as dashboard:
            dashboard.wait_http(f"{origin}/healthz", timeout=120)
            assert healthcheck(dashboard) == 0
            assert process_ids(host_pid(dashboard)) == ({IMAGE_UID}, {IMAGE_UID})
            assert "Read-only file system" in write_attempt(dashboard, "/opt/hostpulse/probe")

            user = unique("admin")
            await make_user(empty_database_url, user, "admin")
            async with httpx.AsyncClient(base_url=backend_url, timeout=10) as client:
                response = await client.post(
                    "/ingest/metrics",
                    json=agent_report(node),
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                assert response.status_code == 200, response.text

            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
                )
                try:
                    page = await browser.new_page(viewport={"width": 1280, "height": 800})
                    errors: list[str] = []
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    await page.goto(origin, timeout=LONG)
                    await page.fill("#login-user", user, timeout=LONG)
                    await page.fill("#login-password", PASSWORD)
                    await page.click("#login-submit")
                    await expect(page.locator("#connection")).to_have_attribute(
                        "data-state", "live", timeout=LONG
                    )
                    await expect(page.get_by_text(re.compile(re.escape(node))).first).to_be_visible(
                        timeout=LONG
                    )
                    assert errors == []
                finally:
                    await browser.close()
            assert dashboard.stop() == 0, dashboard.logs()[-3000:]
