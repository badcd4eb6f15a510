"""The fleet table's rows (static/js/fleet/rows.js) and the store's summaries and live request
(static/js/state/store.js), in the real browser: problems first, each column's sort, filters,
search, counts; a full `summaries` message replaces, a partial one merges; an unchanged request
is not sent again."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

ARRANGE = """async () => {
  const { arrange, fleetRows } = await import("/static/js/fleet/rows.js");
  const now = 100000;
  const s = (host, fields) =>
    ({ host, status: "up", seen_ms: now - 1000, firing: 0, pending: 0, ...fields });
  const summaries = new Map([
    ["calm", s("calm", { cpu: 0.1, mem: 0.5, load: 0.2 })],
    ["busy", s("busy", { cpu: 0.9, mem: 0.2, load: 4 })],
    ["gone", s("gone", { cpu: 0.95, status: "stale", seen_ms: now - 60000 })],
    ["fire", s("fire", { cpu: 0.05, firing: 1 })],
    ["warn", s("warn", { cpu: 0.5, pending: 2 })],
  ]);
  // Known from the REST list only: no numbers yet.
  const listed = new Map([["new-1", now - 500], ["old-1", now - 90000], ["busy", now]]);
  const rows = fleetRows(summaries, listed, 30000, now);
  const names = (options) => arrange(rows, options).rows.map((r) => r.name);
  return {
    problems: names(),
    cpuDown: names({ sort: "cpu", descending: true }),
    cpuUp: names({ sort: "cpu", descending: false }),
    nameUp: names({ sort: "name" }),
    alerts: names({ sort: "alerts", descending: true }),
    stale: names({ filter: "stale" }),
    firing: names({ filter: "firing" }),
    pending: names({ filter: "pending" }),
    search: names({ search: " NEW" }),
    counts: arrange(rows, { filter: "stale" }).counts,
    listedRow: rows.find((r) => r.name === "old-1"),
  };
}"""


async def test_problems_first_each_sort_filters_search_and_counts(module_page: Page) -> None:
    result: dict[str, Any] = await module_page.evaluate(ARRANGE)
    # Firing, then stale (old-1 too: its last report is 90 s old), then the busiest CPU; hosts
    # without a number last.
    assert result["problems"] == ["fire", "gone", "old-1", "busy", "warn", "calm", "new-1"]
    # Missing numbers sort last whichever the direction.
    assert result["cpuDown"] == ["gone", "busy", "warn", "calm", "fire", "new-1", "old-1"]
    assert result["cpuUp"] == ["fire", "calm", "warn", "busy", "gone", "new-1", "old-1"]
    assert result["nameUp"] == ["busy", "calm", "fire", "gone", "new-1", "old-1", "warn"]
    assert result["alerts"][:2] == ["fire", "warn"]
    assert result["stale"] == ["gone", "old-1"]
    assert (result["firing"], result["pending"]) == (["fire"], ["warn"])
    assert result["search"] == ["new-1"]
    # Counts are of every host, whatever the filter.
    assert result["counts"] == {"all": 7, "firing": 1, "pending": 1, "stale": 2, "up": 5}
    assert result["listedRow"]["status"] == "stale"
    assert result["listedRow"]["cpu"] is None


STORE = """async () => {
  const { Store } = await import("/static/js/state/store.js");
  const store = new Store();
  const heard = [];
  store.on("summaries", (m) => heard.push(`summaries ${m.full}`));
  store.on("live-request", (r) => heard.push(JSON.stringify(r)));
  const summaries = (full, hosts) => store.applySummaries({ type: "summaries", full, hosts });
  summaries(true, [{ host: "a", cpu: 0.1 }, { host: "b" }]);
  summaries(false, [{ host: "a", cpu: 0.7 }, { host: "c" }, null]);
  const merged = [...store.summaries.byName.keys()].sort();
  const cpu = store.summaries.byName.get("a").cpu;
  summaries(true, [{ host: "c" }]);
  const replaced = [...store.summaries.byName.keys()];
  store.want({ summary: true });
  store.want({ summary: true, hosts: [] });
  store.want({ hosts: ["web-2", "web-1"] });
  store.want({ hosts: ["web-1", "web-2"] });
  return { merged, cpu, replaced, heard };
}"""


async def test_summaries_replace_or_merge_and_an_unchanged_request_is_not_resent(
    module_page: Page,
) -> None:
    result: dict[str, Any] = await module_page.evaluate(STORE)
    assert result["merged"] == ["a", "b", "c"]
    assert result["cpu"] == 0.7
    assert result["replaced"] == ["c"]
    assert result["heard"] == [
        "summaries true",
        "summaries false",
        "summaries true",
        '{"summary":true,"hosts":[]}',
        '{"summary":false,"hosts":["web-1","web-2"]}',
    ]
