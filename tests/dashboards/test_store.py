"""The store the views read (static/js/state/), in the real browser: hosts from the REST list and
live frames, alerts from the REST list and live transitions, and who is told."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

FEED = """async () => {
  const { Store } = await import("/static/js/state/store.js");
  const store = new Store();
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString();
  const heard = [];
  const stopHearingHosts = store.on("host", (name) => heard.push(`host ${name}`));
  store.on("hosts", () => heard.push("hosts"));
  store.on("alerts", (t) => heard.push(t ? `alert ${t.rule} ${t.to}` : "alerts reloaded"));
  const sample = (name, labels, time_ms, value) => ({ name, labels, time_ms, value });
  const idle = (time_ms, value) =>
    sample("system_cpu_utilization_ratio", { cpu_mode: "idle" }, time_ms, value);
  const alert = (rule, labels, to) => ({ rule, labels, host: labels.host, to, time: iso(now) });

  store.applyFrame({ type: "samples", host: "web-3", accepted_ms: now, samples: [
    sample("system_memory_usage_bytes", { system_memory_state: "used" }, now, 1024),
    sample("system_memory_limit_bytes", {}, now, 4096),
  ] });
  stopHearingHosts();
  store.applyFrame({ type: "samples", host: "web-3", accepted_ms: now - 5000, samples: [] });
  // The list was read before web-3's frame arrived: its older last-seen must not win.
  store.mergeHosts({ stale_after_seconds: 30, hosts: [
    { name: "web-2", last_seen: iso(now - 60000) },
    { name: "web-1", last_seen: iso(now - 1000) },
    { name: "web-3", last_seen: iso(now - 60000) },
  ] }, new Map([["web-1", [idle(now - 120000, 0.0), idle(now - 2000, 0.75)]]]));
  store.replaceAlerts([
    { rule: "HighCpu", labels: { host: "web-1" }, state: "pending", active_since: iso(now) },
  ]);
  store.applyAlert(alert("HighCpu", { host: "web-1" }, "firing"));
  store.applyAlert(alert("Disk", { host: "web-1", device: "sda" }, "pending"));
  const firing = store.hosts.names().map((name) => store.hostSummary(name, now));
  store.applyAlert(alert("HighCpu", { host: "web-1" }, "resolved"));
  const resolved = store.hostSummary("web-1", now);
  return { firing, resolved, heard, now };
}"""


async def test_hosts_and_alerts_become_fleet_summaries(module_page: Page) -> None:
    result: dict[str, Any] = await module_page.evaluate(FEED)
    now = result["now"]
    web_1, web_2, web_3 = result["firing"]
    assert web_1 == {
        "name": "web-1",
        "lastSeen": now - 1000,
        "status": "up",
        "cpu": 0.25,  # 1 - idle; the sample older than the last minute is not the latest
        "memRatio": None,
        "memUsed": None,
        "firing": 1,
        "pending": 1,
    }
    assert (web_2["status"], web_2["cpu"], web_2["firing"]) == ("stale", None, 0)
    assert (web_3["status"], web_3["lastSeen"], web_3["memRatio"]) == ("up", now, 0.25)
    assert (result["resolved"]["firing"], result["resolved"]["pending"]) == (0, 1)
    assert result["heard"] == [
        "host web-3",  # then that listener was removed: the second frame is not heard
        "hosts",
        "alerts reloaded",
        "alert HighCpu firing",
        "alert Disk pending",
        "alert HighCpu resolved",
    ]
