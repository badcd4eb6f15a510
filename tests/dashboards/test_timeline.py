"""The UI's pure data code (static/js/metrics/timeline.js, format.js), run in the real browser."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

FEED = """async (windowMs) => {
  const { HostTimeline } = await import("/static/js/metrics/timeline.js");
  const t = new HostTimeline(windowMs);
  const s = (name, labels, time_ms, value) => ({ name, labels, time_ms, value });
  const disk = (device, time_ms, value) =>
    s("system_disk_io_bytes_total", { system_device: device, disk_io_direction: "read" },
      time_ms, value);
  t.add([
    disk("sda", 1000, 0), disk("sdb", 1000, 500),
    s("system_cpu_utilization_ratio", { cpu_mode: "idle" }, 1000, 0.75),
    s("system_memory_usage_bytes", { system_memory_state: "used" }, 1000, 1024),
    s("system_memory_limit_bytes", {}, 1000, 4096),
  ]);
  t.add([
    disk("sda", 3000, 2048), disk("sdb", 3000, 1500),
    s("system_cpu_utilization_ratio", { cpu_logical_number: "0" }, 3000, 0.5),
    s("system_cpu_utilization_ratio", { cpu_logical_number: "1" }, 3000, 1.0),
  ]);
  t.add([disk("sda", 5000, 10)]);  // a counter reset (agent restart)
  // Metrics the timeline does not draw leave no row, even with names every object has.
  t.add([s("constructor", {}, 15000, 1), s("toString", {}, 15000, 1)]);
  t.add([s("hostpulse_system_threads", {}, 20000, 7)]);
  return t.columns(["diskRead", "cpu", "memAvailable", "memRatio", "threads"]);
}"""

FORMATS = """async () => {
  const f = await import("/static/js/format.js");
  return [f.formatBytes(1536), f.formatRate(3 * 1048576), f.formatPercent(0.123),
    f.formatCount(12345), f.formatBytes(null), f.formatBytes(512)];
}"""


async def test_rates_cpu_and_memory_are_derived_as_the_charts_show_them(module_page: Page) -> None:
    columns: list[list[Any]] = await module_page.evaluate(FEED, 1e9)
    xs, disk, cpu, mem_available, mem_ratio, threads = columns
    # (2048 B + 1000 B) over 2 s, per device then summed; the counter reset at 5 s adds no point
    assert xs == [1, 3, 20]
    assert disk == [None, 1524, None]
    assert cpu == [0.25, 0.75, None]  # 1 - idle from modes, else the mean of the cores
    assert mem_available == [3072, None, None]  # limit - used
    assert mem_ratio == [0.25, None, None]
    assert threads == [None, None, 7]


async def test_the_live_window_keeps_only_its_last_span(module_page: Page) -> None:
    xs = (await module_page.evaluate(FEED, 10_000))[0]
    assert xs == [20]


async def test_numbers_carry_units(module_page: Page) -> None:
    assert await module_page.evaluate(FORMATS) == [
        "1.5 KiB",
        "3.0 MiB/s",
        "12.3 %",
        "12,345",
        "—",
        "512 B",
    ]
