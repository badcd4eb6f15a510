// The host view: live (the recent window, then WebSocket frames) or a history range, as charts,
// the host's alerts and the top-process table.

import { api } from "./api.js";
import { Chart, color } from "./charts.js";
import { el, formatAge, formatTime } from "./format.js";
import { ProcessTable } from "./processes.js";
import { HostTimeline } from "./timeline.js";

const HISTORY_METRICS = [
  "system_cpu_utilization_ratio", "system_memory_usage_bytes", "system_linux_memory_available_bytes",
  "system_memory_limit_bytes", "system_paging_usage_bytes", "hostpulse_system_threads",
  "system_disk_io_bytes_total", "system_network_io_bytes_total", "system_linux_file_handle_usage",
];
const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };

function chartSpecs(cores) {
  return [
    { id: "cpu", title: "CPU busy (all cores)", unit: "percent", series: [{ label: "CPU", field: "cpu" }] },
    { id: "cores", title: `CPU per core (${cores})`, unit: "percent",
      series: Array.from({ length: cores }, (_, i) => ({ label: `cpu${i}`, field: `core${i}`, color: color(i) })) },
    { id: "memory", title: "Memory", unit: "bytes", series: [
      { label: "used", field: "memUsed" }, { label: "available", field: "memAvailable" }, { label: "swap used", field: "swapUsed" }] },
    { id: "threads", title: "Threads (system-wide)", unit: "count", series: [{ label: "threads", field: "threads" }] },
    { id: "disk", title: "Disk I/O", unit: "rate", series: [{ label: "read", field: "diskRead" }, { label: "write", field: "diskWrite" }] },
    { id: "network", title: "Network I/O", unit: "rate", series: [{ label: "receive", field: "netRx" }, { label: "transmit", field: "netTx" }] },
    { id: "handles", title: "Open file handles", unit: "count", series: [{ label: "handles", field: "handles" }] },
  ];
}

function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export class HostView {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.host = null;
    this.mode = "live";
    this.charts = [];
    this.timeline = new HostTimeline();
    this.loading = 0;
  }

  show(host) {
    if (host !== this.host || !this.charts.length) {
      this.host = host;
      this.mode = "live";
      this.build();
      this.loadLive();
    }
  }

  hide() {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    this.host = null;
  }

  build() {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    const select = el("select", { id: "host-select", "aria-label": "Host", onchange: (e) => this.app.navigate(`#/host/${encodeURIComponent(e.target.value)}`) });
    this.select = select;
    this.updateHostOptions();
    const buttons = ["live", ...Object.keys(RANGES)].map((key) => el("button", {
      className: "range", dataset: { range: key }, "aria-pressed": key === this.mode ? "true" : "false",
      onclick: () => (key === "live" ? this.loadLive() : this.loadHistory(Date.now() - RANGES[key], Date.now(), key)),
    }, key === "live" ? "Live (5 min)" : key));
    const from = el("input", { type: "datetime-local", id: "range-from", "aria-label": "From" });
    const to = el("input", { type: "datetime-local", id: "range-to", "aria-label": "To" });
    const custom = el("form", { className: "custom-range", onsubmit: (e) => {
      e.preventDefault();
      const a = new Date(from.value).getTime();
      const b = new Date(to.value).getTime();
      if (Number.isFinite(a) && Number.isFinite(b) && a < b) this.loadHistory(a, b, "custom");
      else this.setStatus("Custom range: pick a start before the end");
    } }, from, to, el("button", { type: "submit" }, "Show range"));
    this.inputs = { from, to };
    this.status = el("span", { className: "muted", id: "host-status" });
    this.alertsBox = el("div", { id: "host-alerts", className: "host-alerts" });
    this.grid = el("div", { className: "chart-grid" });
    this.tableBox = el("div", { className: "table-wrap" });
    this.table = new ProcessTable(this.tableBox);
    this.table.render();
    this.root.replaceChildren(
      el("div", { className: "toolbar" }, el("h2", {}, "Host ", select), el("div", { className: "ranges" }, buttons), custom, this.status),
      this.alertsBox,
      this.grid,
      el("h3", {}, "Top processes ", el("span", { className: "muted" }, "(CPU is % of the whole machine; click a header to sort)")),
      this.tableBox,
    );
    this.renderAlerts();
  }

  updateHostOptions() {
    if (!this.select || !this.host) return;
    const names = new Set(this.app.hostNames());
    names.add(this.host);
    this.select.replaceChildren(...[...names].sort().map((name) => el("option", { value: name, selected: name === this.host }, name)));
  }

  setStatus(text) { if (this.status) this.status.textContent = text; }

  markRange(key) {
    for (const b of this.root.querySelectorAll("button.range")) b.setAttribute("aria-pressed", b.dataset.range === key ? "true" : "false");
  }

  makeCharts() {
    for (const c of this.charts) c.destroy();
    const onZoom = (a, b) => {
      this.inputs.from.value = localInput(a);
      this.inputs.to.value = localInput(b);
      this.loadHistory(a, b, "custom");
    };
    this.grid.replaceChildren();
    this.cores = Math.max(1, this.timeline.coreCount);
    this.charts = chartSpecs(this.cores).map((spec) => {
      const box = el("div", { className: "chart", id: `chart-${spec.id}`, dataset: { chart: spec.id } });
      this.grid.append(box);
      return new Chart(box, { title: spec.title, series: spec.series, unit: spec.unit, onZoom });
    });
  }

  // Chart colours come from the theme when a chart is built.
  retheme() {
    if (!this.charts.length) return;
    this.makeCharts();
    this.redraw();
  }

  redraw() {
    if (Math.max(1, this.timeline.coreCount) !== this.cores) this.makeCharts();
    for (const c of this.charts) c.update(this.timeline, this.xRange);
  }

  async loadLive() {
    const host = this.host;
    const ticket = ++this.loading;
    this.mode = "live";
    this.xRange = null;
    this.markRange("live");
    this.setStatus("Loading the last 5 minutes…");
    try {
      const recent = await api("/api/metrics/recent", { query: { host } });
      if (ticket !== this.loading) return;
      this.timeline = new HostTimeline((recent.window_seconds || 300) * 1000);
      this.timeline.add(recent.samples);
      this.makeCharts();
      this.redraw();
      this.table = new ProcessTable(this.tableBox);
      for (const snapshot of recent.processes.slice(-2)) this.table.update(snapshot);
      this.table.render();
      if (!performance.getEntriesByName("hostpulse:first-render").length) performance.mark("hostpulse:first-render");
      this.setStatus("Live: updates as the agent reports");
    } catch (err) {
      if (ticket === this.loading) this.setStatus(`Could not load recent data: ${err.message}`);
    }
  }

  // After a WebSocket reconnect, refill the gap from the recent window.
  refresh() { if (this.host && this.mode === "live") this.loadLive(); }

  onFrame(frame) {
    if (frame.host !== this.host || this.mode !== "live" || !this.charts.length) return;
    this.timeline.add(frame.samples);
    this.redraw();
    if (frame.processes) this.table.update(frame.processes);
  }

  async loadHistory(fromMs, toMs, key) {
    const host = this.host;
    const ticket = ++this.loading;
    this.mode = key;
    this.markRange(key);
    this.setStatus(`Loading ${formatTime(fromMs)} – ${formatTime(toMs)}…`);
    const query = (metric) => ({ host, metric, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() });
    try {
      const answers = await Promise.all(HISTORY_METRICS.map((metric) => api("/api/metrics/history", { query: query(metric) })));
      if (ticket !== this.loading) return;
      const timeline = new HostTimeline(Infinity);
      let resolution = "";
      for (const answer of answers) {
        resolution = answer.resolution;
        const samples = [];
        for (const series of answer.series) {
          for (const p of series.points) samples.push({ name: answer.metric, labels: series.labels, time_ms: p.time_ms, value: p.avg });
        }
        timeline.add(samples);
      }
      this.timeline = timeline;
      this.xRange = [fromMs, toMs];
      this.makeCharts();
      this.redraw();
      this.setStatus(`History ${formatTime(fromMs)} – ${formatTime(toMs)} (${formatAge(toMs - fromMs)}, ${resolution} data; drag on a chart to zoom)`);
      this.root.dataset.historyLoaded = key;
    } catch (err) {
      if (ticket === this.loading) this.setStatus(`Could not load history: ${err.message}`);
    }
  }

  renderAlerts() {
    if (!this.alertsBox || !this.host) return;
    const mine = this.app.alerts.forHost(this.host);
    this.alertsBox.replaceChildren(mine.length
      ? el("ul", { className: "alert-list" }, mine.map((a) => el("li", { className: `alert ${a.state}`, dataset: { rule: a.rule } },
        el("strong", {}, a.state.toUpperCase()), ` ${a.rule} `,
        a.value != null ? `value ${Number(a.value).toPrecision(4)} ` : "",
        a.since ? el("span", { className: "muted" }, `since ${formatTime(a.since)}`) : "")))
      : el("p", { className: "muted" }, "No pending or firing alerts on this host."));
  }
}
