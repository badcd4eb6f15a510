"""The fleet view at 2,000 hosts in Chromium against a real backend (PostgreSQL, Redis, alerting):
every host appears, sorting, filtering and search work, a host that starts firing moves to the
top, a silent host is marked stale; the fleet tab receives summaries and never full frames, and
the host view subscribes to its one host and re-subscribes when the host changes.

The hosts are simulated: one agent report per host, 1,000 reports per JSON POST through the real
ingest path, repeated every `REPORT_EVERY` seconds like agents would report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocket, expect

from backend.alerts.settings import AlertingSettings
from dashboards.app import DashboardSettings, create_app
from tests.backend.alerts.support import evaluator_leading
from tests.backend.auth.support import ensure_session
from tests.backend.running import AUTH, RunningBackend, iso, now_ms, serve, service_settings
from tests.conftest import free_port
from tests.dashboards.conftest import Stack, artifact, serve_app
from tests.dashboards.test_ui import LONG, open_logged_in

pytestmark = pytest.mark.slow

HOSTS = 2000
REPORTS_PER_POST = 1000  # the JSON schema's maximum per document
REPORT_EVERY = 2.0  # s
STALE_AFTER = 6.0  # s: host_stale_after, so the silent host turns stale within the test
QUIET = "quiet-1"  # reports once, then never again
HOT = "fleet-1998"  # starts firing mid-test

# Fires when a host's CPU is almost all busy; the simulated fleet stays below until HOT turns hot.
RULES = """
rules:
  - name: Hot
    metric: system_cpu_utilization_ratio
    matchers: {cpu_mode: idle}
    op: "<"
    threshold: 0.02
    for: 0s
    labels: {severity: critical}
"""


def fleet_names() -> list[str]:
    return [f"fleet-{i:04d}" for i in range(HOSTS - 1)] + [QUIET]


def idle_of(index: int) -> float:
    """CPU idle share 0.10..0.90 spread over the fleet; fleet-0500 is the busiest (95 % busy)."""
    return 0.05 if index == 500 else 0.10 + (index * 37 % 800) / 1000


def report(host: str, idle: float, seq: int, at_ms: int) -> dict[str, Any]:
    """One report of a small host: CPU by mode, memory used and total, load, its top process."""
    return {
        "seq": seq,
        "timestamp": iso(at_ms),
        "host": {"name": host, "id": f"{host}-id"},
        "metrics": [
            {
                "name": "system.cpu.utilization",
                "unit": "1",
                "type": "gauge",
                "points": [
                    {"attributes": {"cpu.mode": "idle"}, "value": idle},
                    {"attributes": {"cpu.mode": "user"}, "value": round(1 - idle, 4)},
                ],
            },
            {
                "name": "system.memory.usage",
                "unit": "By",
                "type": "updowncounter",
                "points": [{"attributes": {"system.memory.state": "used"}, "value": 2e9}],
            },
            {
                "name": "system.memory.limit",
                "unit": "By",
                "type": "updowncounter",
                "points": [{"attributes": {}, "value": 8e9}],
            },
        ],
        "processes": [
            {
                "rank": 1,
                "pid": 4242,
                "name": "app-server",
                "cpu_utilization": round((1 - idle) / 2, 4),
                "memory_rss_bytes": 1000,
                "memory_virtual_bytes": 2000,
                "threads": 3,
                "disk_read_bytes": None,
                "disk_write_bytes": None,
                "open_fds": 10,
            }
        ],
        "collectors": [{"name": "cpu", "duration_seconds": 0.001, "success": True}],
    }


@dataclass
class SimulatedFleet:
    """Every host's idle share; `report_all` posts one report per host, in batches."""

    backend: RunningBackend
    idle: dict[str, float] = field(default_factory=dict)
    seq: int = 0

    async def report_all(self, names: list[str]) -> None:
        self.seq += 1
        at = now_ms()
        for start in range(0, len(names), REPORTS_PER_POST):
            chunk = names[start : start + REPORTS_PER_POST]
            document = {
                "schema_version": 1,
                "agent": {"name": "fleet-sim", "version": "0.1.0", "instance_id": f"sim-{start}"},
                # seq counts the reports of one agent instance (duplicates are dropped)
                "reports": [
                    report(n, self.idle[n], self.seq * REPORTS_PER_POST + k, at)
                    for k, n in enumerate(chunk)
                ],
            }
            response = await self.backend.client.post(
                "/ingest/metrics", json=document, headers=AUTH, timeout=60
            )
            assert response.status_code < 300, response.text[:300]

    async def keep_reporting(self, names: list[str]) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY)
            await self.report_all(names)


@dataclass
class Wire:
    """What the page's WebSocket sent and received."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)

    def attach(self, socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        socket.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def subscriptions(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == "subscribe"]

    def received_types(self) -> set[str]:
        return {m.get("type", "") for m in self.received}


@pytest.fixture
async def fleet_stack(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any, tmp_path: Path
) -> AsyncIterator[Stack]:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    dashboard_port = free_port()
    settings = service_settings(
        database_url,
        redis_url,
        redis_prefix,
        cors_origins=[f"http://127.0.0.1:{dashboard_port}"],
        host_stale_after=STALE_AFTER,
        live_summary_flush=0.5,
        alerting=AlertingSettings(rules_file=rules, load_defaults=False, tick_interval=0.5),
    )
    async with serve(settings) as backend:
        app = create_app(DashboardSettings(backend_url=backend.base_url))
        async with serve_app(app, dashboard_port) as url:
            yield Stack(backend, url, database_url)


async def first_hosts(page: Page, count: int) -> list[str]:
    rows = page.locator("#fleet-rows .fleet-row")
    return [await rows.nth(i).get_attribute("data-host") or "" for i in range(count)]


async def test_2000_hosts_problems_first_sort_filter_search_stale_and_subscriptions(
    fleet_stack: Stack, browser: Browser
) -> None:
    stack = fleet_stack
    await ensure_session(stack.database_url)
    names = fleet_names()
    fleet = SimulatedFleet(stack.backend, {n: idle_of(i) for i, n in enumerate(names)})
    # Half the fleet is known before the page opens (the first snapshot), half arrives live.
    await fleet.report_all(names[: HOSTS // 2])

    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    wire = Wire()
    page.on("websocket", wire.attach)
    page = await open_logged_in(browser, stack, "test-admin", page=page)
    reporting = asyncio.create_task(fleet.keep_reporting(names[:-1]))  # QUIET stays silent
    try:
        await fleet.report_all(names)
        counts = page.locator("#fleet-counts")
        every = counts.locator('[data-filter="all"]')
        await expect(every).to_have_text("2,000 hosts", timeout=LONG)
        await expect(page.locator("#view-fleet h2")).to_have_text("Fleet (2,000 hosts)")
        # Problems first: nothing fires yet, so the busiest CPU leads.
        await expect(page.locator("#fleet-rows .fleet-row").first).to_have_attribute(
            "data-host", "fleet-0500", timeout=LONG
        )
        await expect(page.locator("#fleet-rows .fleet-row").first.locator(".cpu")).to_have_text(
            "95.0 %"
        )
        # Only the rows in view are in the DOM.
        assert await page.locator("#fleet-rows .fleet-row").count() < 60

        # The silent host turns stale, and (a problem) comes before every busy host.
        quiet = page.locator(f'.fleet-row[data-host="{QUIET}"]')
        await expect(quiet).to_have_attribute("data-status", "stale", timeout=LONG)
        await expect(quiet.locator(".badge")).to_have_text("stale")
        assert await first_hosts(page, 2) == [QUIET, "fleet-0500"]
        await expect(counts.locator('[data-filter="stale"]')).to_have_text("1 stale")
        await page.screenshot(path=artifact("fleet-2000.png"))

        # A host that starts firing moves to the top.
        await evaluator_leading(stack.backend)
        fleet.idle[HOT] = 0.01
        first = page.locator("#fleet-rows .fleet-row").first
        await expect(first).to_have_attribute("data-host", HOT, timeout=LONG)
        await expect(first.locator(".alerts")).to_have_text("1 firing")
        await expect(counts.locator('[data-filter="firing"]')).to_have_text("1 firing")
        await page.screenshot(path=artifact("fleet-2000-firing.png"))

        # Sorting by a column, both ways.
        cpu = page.locator('.fleet-head button[data-key="cpu"]')
        await cpu.click()
        await expect(cpu).to_have_attribute("aria-sort", "descending")
        assert (await first_hosts(page, 2)) == [HOT, "fleet-0500"]
        await cpu.click()
        await expect(cpu).to_have_attribute("aria-sort", "ascending")
        lowest = await first_hosts(page, 1)
        assert fleet.idle[lowest[0]] == max(fleet.idle.values())
        await page.locator('.fleet-head button[data-key="name"]').click()
        assert await first_hosts(page, 3) == ["fleet-0000", "fleet-0001", "fleet-0002"]
        # Scrolled to the end: the last rows are drawn, still only those in view.
        await page.locator("#fleet-rows").evaluate("(box) => { box.scrollTop = box.scrollHeight; }")
        await expect(page.locator(f'.fleet-row[data-host="{QUIET}"]')).to_be_visible()
        assert await page.locator("#fleet-rows .fleet-row").count() < 60

        # Filters by status, and search by name.
        await counts.locator('[data-filter="stale"]').click()
        await expect(page.locator("#view-fleet")).to_have_attribute("data-rows", "1")
        assert await first_hosts(page, 1) == [QUIET]
        await counts.locator('[data-filter="firing"]').click()
        assert await first_hosts(page, 1) == [HOT]
        await counts.locator('[data-filter="all"]').click()
        await page.fill("#fleet-search", "FLEET-123")
        await expect(page.locator("#view-fleet")).to_have_attribute("data-rows", "10")
        shown = await page.locator("#fleet-rows .fleet-row").evaluate_all(
            "(rows) => rows.map((r) => r.dataset.host)"
        )
        assert shown == [f"fleet-123{i}" for i in range(10)]
        await page.fill("#fleet-search", "no-such-host")
        await expect(page.locator("#fleet-empty")).to_have_text(
            "No host matches the filter and search."
        )

        # The fleet tab asked for summaries only and never got a full frame.
        assert wire.subscriptions()[-1] == {
            "type": "subscribe",
            "v": 2,
            "summary": True,
            "hosts": [],
        }
        assert "summaries" in wire.received_types()
        assert "samples" not in wire.received_types()

        # The host view: its one host's frames, re-subscribed when the host changes.
        await page.fill("#fleet-search", "fleet-1234")
        await page.click('.fleet-row[data-host="fleet-1234"]')
        await expect(page.locator("#host-select")).to_have_value("fleet-1234")
        wire.received.clear()
        await wait_for_frames(wire, "fleet-1234")
        assert wire.subscriptions()[-1] == {
            "type": "subscribe",
            "v": 2,
            "summary": False,
            "hosts": ["fleet-1234"],
        }
        await page.select_option("#host-select", "fleet-0042")
        await expect(page.locator("#host-select")).to_have_value("fleet-0042")
        await expect(page.locator("#chart-cpu")).to_have_attribute(
            "data-points", re.compile("^[1-9]"), timeout=LONG
        )
        assert wire.subscriptions()[-1]["hosts"] == ["fleet-0042"]
        wire.received.clear()
        await wait_for_frames(wire, "fleet-0042")
        assert "summaries" not in wire.received_types()
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        reporting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporting


async def wait_for_frames(wire: Wire, host: str) -> None:
    """Frames arrive for `host` (two report rounds), and for no other host."""
    for _ in range(int(4 * REPORT_EVERY / 0.1)):
        frames = [m for m in wire.received if m.get("type") == "samples"]
        if len(frames) >= 2:
            break
        await asyncio.sleep(0.1)
    frames = [m for m in wire.received if m.get("type") == "samples"]
    assert frames, f"no frame of {host} within {4 * REPORT_EVERY} s"
    assert {f["host"] for f in frames} == {host}
