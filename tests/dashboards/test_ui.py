"""The dashboard in a real browser against a real backend: what an operator does with it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from tests.backend.alerts.support import cpu_report, evaluator_leading
from tests.backend.auth.support import PASSWORD, ensure_session, expire_sessions, make_user
from tests.backend.running import AUTH, TOKEN, agent_report
from tests.dashboards.conftest import Stack, artifact

LONG = 20_000  # ms: generous waits for a 2-core machine shared with other test runs


async def push(stack: Stack, report: dict[str, Any], headers: dict[str, str] = AUTH) -> int:
    response = await stack.backend.client.post("/ingest/metrics", json=report, headers=headers)
    return response.status_code


async def open_logged_in(
    browser: Browser, stack: Stack, user: str, width: int = 1280, page: Page | None = None
) -> Page:
    page = page or await browser.new_page(viewport={"width": width, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The CSP is strict (no inline script, connect only to the backend): a violation is a bug.
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(stack.dashboard_url)
    await page.fill("#login-user", user)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


@pytest.fixture
def cpu_burner(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process named `hp-burner` spinning one core; its comm name comes from the link."""
    link = tmp_path / "hp-burner"
    link.symlink_to(Path(sys.executable).resolve())
    process = subprocess.Popen([str(link), "-c", "while True: pass"])
    try:
        yield process
    finally:
        process.kill()
        process.wait(10)


@pytest.fixture
def exporter(stack: Stack, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real agent pushing JSON every second as host `burner-host`."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    script = Path(sys.executable).with_name("hostpulse-exporter")
    process = subprocess.Popen(
        [
            str(script),
            "--interval=1s",
            "--host-name=burner-host",
            "--no-prometheus",
            f"--backend-url={stack.backend.base_url}/ingest/metrics",
            f"--token-file={token_file}",
            "--log-level=warning",
        ],
        env={**os.environ, "HOSTPULSE_CONFIG_FILE": ""},
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def test_fleet_live_host_processes_and_history(
    stack: Stack,
    browser: Browser,
    cpu_burner: subprocess.Popen[bytes],
    exporter: subprocess.Popen[bytes],
) -> None:
    await ensure_session(stack.database_url)  # creates test-admin with the shared password
    assert await push(stack, agent_report("web-2", cores=4)) < 300
    page = await open_logged_in(browser, stack, "test-admin")

    await expect(page.locator('.fleet-row[data-host="burner-host"]')).to_be_visible(timeout=LONG)
    await expect(page.locator('.fleet-row[data-host="web-2"] .cpu')).to_contain_text("%")
    await page.screenshot(path=artifact("fleet.png"), full_page=True)

    await page.click('.fleet-row[data-host="burner-host"]')
    chart = page.locator("#chart-cpu")
    await expect(chart).to_have_attribute("data-points", re.compile(r"^[1-9]"), timeout=LONG)
    shown = int(await chart.get_attribute("data-points") or 0)
    # New points arrive from WebSocket frames (the page does not poll).
    await expect(chart).not_to_have_attribute("data-points", str(shown), timeout=LONG)
    burner_row = page.locator(f'#process-table tr[data-pid="{cpu_burner.pid}"]')
    await expect(burner_row).to_contain_text("hp-burner", timeout=LONG)
    await expect(burner_row).to_contain_text("%")
    await page.screenshot(path=artifact("host-live.png"), full_page=True)
    await page.click('#process-table th[data-key="name"]')
    await expect(page.locator('#process-table th[data-key="name"]')).to_have_attribute(
        "aria-sort", "ascending"
    )
    names = await page.locator("#process-table tbody tr td:first-child").all_text_contents()
    assert names == sorted(names, key=str.lower) or names == sorted(names)

    await page.select_option("#host-select", "web-2")
    await expect(page.locator("#host-select")).to_have_value("web-2")
    await expect(page.locator("#chart-cores .u-title")).to_have_text("CPU per core (4)")

    await page.click('button.range[data-range="24h"]')
    await expect(page.locator("#view-host")).to_have_attribute("data-history-loaded", "24h")
    await expect(page.locator("#host-status")).to_contain_text("History")
    await page.screenshot(path=artifact("host-history-24h.png"), full_page=True)
    await page.click('button.range[data-range="1h"]')
    await expect(page.locator("#view-host")).to_have_attribute("data-history-loaded", "1h")
    # The pushed report is in PostgreSQL: the last hour of raw samples shows it.
    await expect(page.locator("#chart-cores")).to_have_attribute(
        "data-points", re.compile("^[1-9]")
    )

    await page.click("#theme")
    await expect(page.locator("html")).to_have_attribute("data-theme", re.compile("dark|light"))
    await page.screenshot(path=artifact("host-history-1h-toggled-theme.png"), full_page=True)

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=artifact("host-phone.png"), full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]


async def _push_until(stack: Stack, idle: float, page: Page, selector: str, text: str) -> None:
    """Report this CPU idle share for web-2 every 0.5 s until `selector` shows `text`."""
    deadline = time.monotonic() + 30
    while True:
        assert await push(stack, cpu_report("web-2", idle=idle)) < 300
        if text in (await page.locator(selector).text_content() or ""):
            return
        assert time.monotonic() < deadline, f"{selector} never showed {text!r}"
        await asyncio.sleep(0.5)


async def test_admin_configures_rules_sees_alerts_and_revokes_tokens(
    stack: Stack, browser: Browser
) -> None:
    await ensure_session(stack.database_url)
    assert await push(stack, cpu_report("web-2", idle=0.9)) < 300
    page = await open_logged_in(browser, stack, "test-admin")

    await page.click("#nav-config")
    # Retention is read-only, as the backend runs with it (defaults here).
    await expect(page.locator("#retention")).to_contain_text("Raw samples7d")
    await page.fill("#rule-name", "HighUserCpu")
    await page.fill("#rule-metric", "system_cpu_utilization_ratio")
    await page.fill("#rule-threshold", "0.8")
    await page.fill("#rule-for", "0s")
    await page.fill("#rule-matchers", "cpu_mode=user, host=web-2")
    await page.fill("#rule-severity", "critical")
    await page.click("#rule-preview")
    await expect(page.locator("#rule-preview-result")).to_contain_text(
        "1 matching series on 1 hosts; 0 meeting the condition now"
    )
    await page.click("#rule-save")
    rule_row = page.locator('#rules-table tr[data-rule="HighUserCpu"]')
    await expect(rule_row).to_contain_text("> 0.8")
    await rule_row.locator("button.toggle").click()
    await expect(rule_row.locator("button.toggle")).to_have_attribute("aria-pressed", "false")
    await rule_row.locator("button.toggle").click()
    await expect(rule_row.locator("button.toggle")).to_have_attribute("aria-pressed", "true")

    await page.fill("#token-name", "agent-x")
    await page.click('#token-form button[type="submit"]')
    secret = (await page.locator("#token-secret code").text_content() or "").strip()
    assert secret
    agent_x = {"Authorization": f"Bearer {secret}"}
    assert await push(stack, agent_report("agent-x-host"), agent_x) < 300
    await page.screenshot(path=artifact("config.png"), full_page=True)
    await page.click('#tokens-table tr[data-token="agent-x"] button.revoke')
    await expect(page.locator('#tokens-table tr[data-token="agent-x"]')).to_contain_text("revoked")
    deadline = time.monotonic() + 15  # other processes may cache a token for a few seconds
    while await push(stack, agent_report("agent-x-host"), agent_x) != 401:
        assert time.monotonic() < deadline, "a revoked token was still accepted"
        await asyncio.sleep(0.5)

    await evaluator_leading(stack.backend)
    await page.click('nav a[data-view="fleet"]')
    await _push_until(stack, 0.05, page, '.fleet-row[data-host="web-2"] .alerts', "1 firing")
    await page.click('nav a[data-view="alerts"]')
    await expect(page.locator("#current-alerts")).to_contain_text("FIRING HighUserCpu on web-2")
    await _push_until(stack, 0.9, page, "#current-alerts", "Nothing pending or firing")
    await expect(page.locator("#alert-history tr.to-resolved").first).to_contain_text("HighUserCpu")
    await page.fill("#filter-rule", "HighUserCpu")
    await page.click('#alert-filters button[type="submit"]')
    await expect(page.locator("#alert-history tbody tr").first).to_contain_text("HighUserCpu")
    await page.screenshot(path=artifact("alerts.png"), full_page=True)

    await page.click('nav a[data-view="perf"]')
    await expect(page.locator("#perf-ws")).to_contain_text("1")
    await page.screenshot(path=artifact("backend-performance.png"), full_page=True)

    await page.click("#logout")
    await expect(page.locator("#login-form")).to_be_visible()
    assert page.errors == []  # type: ignore[attr-defined]


async def test_viewer_cannot_reach_configuration_and_expiry_returns_to_login(
    stack: Stack, browser: Browser
) -> None:
    viewer = await make_user(stack.database_url, "viewer-1", "viewer")
    page = await open_logged_in(browser, stack, "viewer-1", width=390)
    await expect(page.locator("#nav-config")).to_be_hidden()
    await page.goto(f"{stack.dashboard_url}/#/config")
    await expect(page.locator("#view-denied")).to_be_visible()
    await expect(page.locator("#rule-form")).to_have_count(0)
    await page.screenshot(path=artifact("viewer-denied-phone.png"), full_page=True)

    await expire_sessions(stack.database_url, viewer)
    await page.click('nav a[data-view="alerts"]')
    await expect(page.locator("#login-error")).to_contain_text("session has ended")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_link_to_the_host_view_without_a_host_opens_the_first_host(
    stack: Stack, browser: Browser
) -> None:
    await ensure_session(stack.database_url)
    for host in ("web-b", "web-a"):
        assert await push(stack, agent_report(host, instance=host)) < 300
    page = await open_logged_in(browser, stack, "test-admin")
    await page.goto(f"{stack.dashboard_url}/#/host")
    await page.reload()  # the view opens before the host list has loaded
    await expect(page.locator("#host-select")).to_have_value("web-a")
    await expect(page.locator("#chart-cpu")).to_have_attribute("data-points", re.compile("^[1-9]"))
    assert page.errors == []  # type: ignore[attr-defined]


async def test_the_live_connection_comes_back_after_the_socket_drops(
    stack: Stack, browser: Browser
) -> None:
    await ensure_session(stack.database_url)
    assert await push(stack, agent_report("web-3")) < 300
    page = await browser.new_page()
    sockets: list[WebSocketRoute] = []

    def through_to_the_backend(route: WebSocketRoute) -> None:
        route.connect_to_server()
        sockets.append(route)

    await page.route_web_socket(re.compile(r"/ws$"), through_to_the_backend)
    page = await open_logged_in(browser, stack, "test-admin", page=page)
    row_cpu = page.locator('.fleet-row[data-host="web-3"] .cpu')
    await expect(row_cpu).to_contain_text("%")

    await sockets[0].close(code=1013, reason="too slow; reconnect")
    deadline = time.monotonic() + 20
    while len(sockets) < 2:  # the page opens a new socket after its backoff
        assert time.monotonic() < deadline, "the page did not reconnect"
        await asyncio.sleep(0.1)
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    report = agent_report("web-3", seq=2)
    report["reports"][0]["metrics"][0]["points"] = [
        {"attributes": {"cpu.logical_number": "0"}, "value": 0.97}
    ]
    assert await push(stack, report) < 300
    # Frames flow on the new socket: the row shows the new value without a reload.
    await expect(row_cpu).to_have_text("97.0 %")
    assert page.errors == []  # type: ignore[attr-defined]
