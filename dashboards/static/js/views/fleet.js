// The fleet: one row per host from the live summaries, problems first (firing, stale, busiest
// CPU), sortable by any column, filtered by status and host name, counts by status on top. Only
// the rows in view are in the DOM, so 2,000 hosts cost what 30 do.

import { VirtualRows } from "../components/virtual_rows.js";
import { el } from "../dom.js";
import { arrange, defaultDescending, FILTERS, fleetRows } from "../fleet/rows.js";
import { formatAge, formatBytes, formatCount, formatPercent } from "../format.js";
import { View } from "../router.js";

// Ages and up/stale move with the clock, not only with summaries.
const REDRAW_EVERY_MS = 5000;
const ROW_HEIGHT = 34; // px; style.css .fleet-row has the same height

const COLUMNS = [
  { key: "name", label: "Host" },
  { key: "status", label: "Status" },
  { key: "cpu", label: "CPU", numeric: true },
  { key: "mem", label: "Memory", numeric: true },
  { key: "load", label: "Load 1m", numeric: true },
  { key: "alerts", label: "Alerts" },
  { key: null, label: "Top process" },
  { key: "seen", label: "Seen", numeric: true },
];

const FILTER_LABELS = { all: "hosts", firing: "firing", pending: "pending", stale: "stale", up: "up" };

// Used share of memory; the used bytes when the agent sends no total.
function memoryText(row) {
  if (row.mem != null) return formatPercent(row.mem);
  return row.memUsed != null ? `${formatBytes(row.memUsed)} used` : "—";
}

function alertsText(row) {
  if (!row.firing && !row.pending) return "—";
  return [row.firing ? `${row.firing} firing` : "", row.pending ? `${row.pending} pending` : ""].filter(Boolean).join(", ");
}

function topText(top) {
  if (!top) return "—";
  return top.cpu != null ? `${top.name} (${formatPercent(top.cpu)})` : top.name;
}

function rowElement(row, now) {
  const problems = `${row.firing ? " firing" : ""}${row.pending ? " pending" : ""}`;
  return el("a", {
    className: `fleet-row ${row.status}${problems}`, role: "row", href: `#/host/${encodeURIComponent(row.name)}`,
    dataset: { host: row.name, status: row.status },
  },
  el("span", { className: "name", role: "cell", title: row.name }, row.name),
  el("span", { role: "cell" }, el("span", { className: `badge ${row.status}` }, row.status)),
  el("span", { className: "cpu num", role: "cell" }, formatPercent(row.cpu)),
  el("span", { className: "mem num", role: "cell" }, memoryText(row)),
  el("span", { className: "load num", role: "cell" }, row.load != null ? formatCount(row.load) : "—"),
  el("span", { className: "alerts", role: "cell" }, alertsText(row)),
  el("span", { className: "top", role: "cell", title: row.top ? `PID ${row.top.pid}` : "" }, topText(row.top)),
  el("span", { className: "seen num", role: "cell" }, row.seenMs ? `${formatAge(now - row.seenMs)} ago` : "—"));
}

export class FleetView extends View {
  constructor(root, store) {
    super(root, store);
    this.order = { sort: "problems", descending: false, filter: "all", search: "" };
    this.list = null;
    this.frame = 0;
  }

  liveRequest() { return { summary: true, hosts: [] }; }

  show() {
    this.build();
    this.listen("summaries", () => this.schedule());
    this.listen("hosts", () => this.schedule());
    this.every(REDRAW_EVERY_MS, () => this.schedule());
    this.render();
  }

  hide() {
    if (this.list) this.list.destroy();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.list = null;
  }

  build() {
    this.list = new VirtualRows({
      rowHeight: ROW_HEIGHT, id: "fleet-rows", label: "Hosts",
      renderRow: (row) => rowElement(row, this.now),
    });
    this.heading = el("h2", {}, "Fleet");
    this.counts = el("div", { className: "fleet-counts", id: "fleet-counts", role: "group", "aria-label": "Show hosts by status" });
    this.search = el("input", {
      type: "search", id: "fleet-search", placeholder: "Search hosts", "aria-label": "Search hosts by name",
      value: this.order.search, oninput: (e) => this.reorder({ search: e.target.value }),
    });
    this.problems = el("button", { type: "button", id: "fleet-problems", onclick: () => this.reorder({ sort: "problems", descending: false }) }, "Problems first");
    this.header = el("div", { className: "fleet-head", role: "row" }, COLUMNS.map((c) => (c.key
      ? el("button", { type: "button", role: "columnheader", className: c.numeric ? "num" : "", dataset: { key: c.key }, onclick: () => this.sortBy(c.key) }, c.label)
      : el("span", { role: "columnheader" }, c.label))));
    this.empty = el("p", { className: "muted", id: "fleet-empty", hidden: true });
    this.table = el("div", { className: "fleet-table", role: "table", "aria-label": "Fleet" }, this.header, this.list.scroller);
    this.root.replaceChildren(
      el("div", { className: "toolbar" }, this.heading, this.counts, this.search, this.problems),
      this.table, this.empty);
  }

  sortBy(key) {
    const same = this.order.sort === key;
    this.reorder({ sort: key, descending: same ? !this.order.descending : defaultDescending(key) });
  }

  reorder(change) {
    Object.assign(this.order, change);
    this.render();
  }

  // Many summaries in a frame: one render.
  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  render() {
    if (!this.list) return;
    const started = performance.now();
    this.now = Date.now();
    const { store } = this;
    const listed = new Map([...store.hosts.byName].map(([name, h]) => [name, h.lastSeen]));
    const all = fleetRows(store.summaries.byName, listed, store.hosts.staleAfterMs, this.now);
    const { rows, counts } = arrange(all, this.order);
    this.heading.textContent = `Fleet (${counts.all.toLocaleString("en-US")} hosts)`;
    this.renderCounts(counts);
    for (const button of this.header.querySelectorAll("button[data-key]")) {
      const sorted = button.dataset.key === this.order.sort;
      button.setAttribute("aria-sort", sorted ? (this.order.descending ? "descending" : "ascending") : "none");
    }
    this.problems.setAttribute("aria-pressed", String(this.order.sort === "problems"));
    this.empty.hidden = rows.length > 0;
    this.empty.textContent = counts.all
      ? "No host matches the filter and search."
      : "No host has reported yet. Start an exporter with a JSON push token.";
    this.table.hidden = counts.all === 0;
    this.root.dataset.rows = String(rows.length);
    this.list.setRows(rows);
    this.list.draw();
    performance.measure("hostpulse:fleet-render", { start: started, end: performance.now() });
    if (performance.getEntriesByName("hostpulse:fleet-render").length > 500) performance.clearMeasures("hostpulse:fleet-render");
    // The first render with the live numbers (the summaries), for the bench.
    if (store.summaries.byName.size && !performance.getEntriesByName("hostpulse:fleet-first-render").length) performance.mark("hostpulse:fleet-first-render");
  }

  renderCounts(counts) {
    this.counts.replaceChildren(...FILTERS.map((filter) => el("button", {
      type: "button", className: `count ${filter}`, dataset: { filter },
      "aria-pressed": String(this.order.filter === filter),
      onclick: () => this.reorder({ filter }),
    }, `${counts[filter].toLocaleString("en-US")} ${FILTER_LABELS[filter]}`)));
  }
}
