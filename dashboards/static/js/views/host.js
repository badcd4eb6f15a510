// One host, live (recent window, then frames) or a history range: charts, alerts, processes.

import { api } from "../api.js";
import { alertList } from "../components/alert_list.js";
import { Chart, color } from "../components/chart.js";
import { ProcessTable } from "../components/process_table.js";
import { el } from "../dom.js";
import { formatAge, formatTime } from "../format.js";
import { HostTimeline } from "../metrics/timeline.js";
import { View } from "../router.js";

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

// The host view's charts, drawn from a HostTimeline.
class HostCharts {
  constructor(grid, onZoom) {
    this.grid = grid;
    this.onZoom = onZoom;
    this.charts = [];
    this.cores = 0;
  }

  get drawn() { return this.charts.length > 0; }

  build(cores) {
    this.destroy();
    this.grid.replaceChildren();
    this.cores = cores;
    this.charts = chartSpecs(cores).map((spec) => {
      const box = el("div", { className: "chart", id: `chart-${spec.id}`, dataset: { chart: spec.id } });
      this.grid.append(box);
      return new Chart(box, { title: spec.title, series: spec.series, unit: spec.unit, onZoom: this.onZoom });
    });
  }

  // xRange [fromMs, toMs] pins the time axis
  draw(timeline, xRange = null) {
    const cores = Math.max(1, timeline.coreCount);
    if (!this.drawn || cores !== this.cores) this.build(cores);
    for (const c of this.charts) c.update(timeline.columns(c.fields), xRange);
  }

  destroy() {
    for (const c of this.charts) c.destroy();
    this.charts = [];
  }
}

function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

async function fetchHistory(host, fromMs, toMs) {
  const query = (metric) => ({ host, metric, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() });
  const answers = await Promise.all(HISTORY_METRICS.map((metric) => api("/api/metrics/history", { query: query(metric) })));
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
  return { timeline, resolution };
}

export class HostView extends View {
  constructor(root, store) {
    super(root, store);
    this.host = null;
    this.mode = "live";
    this.charts = null;
    this.timeline = new HostTimeline();
    this.loading = 0;
  }

  show(arg) {
    this.listen("alerts", () => this.renderAlerts());
    // #/host opened before the host list loaded: its first host, once it has.
    this.listen("hosts", () => (this.host ? this.updateHostOptions() : this.update("")));
    this.update(arg);
  }

  // arg: a host name, or empty for the first
  update(arg) {
    const host = arg || this.store.hosts.names()[0];
    if (!host) this.root.textContent = "No host has reported yet.";
    else if (host !== this.host) {
      this.host = host;
      this.store.want(this.liveRequest());
      this.build();
      this.loadLive();
    }
  }

  hide() {
    if (this.charts) this.charts.destroy();
    this.charts = null;
    this.host = null;
  }

  build() {
    if (this.charts) this.charts.destroy();
    const select = el("select", { id: "host-select", "aria-label": "Host", onchange: (e) => { location.hash = `#/host/${encodeURIComponent(e.target.value)}`; } });
    this.select = select;
    this.updateHostOptions();
    const buttons = ["live", ...Object.keys(RANGES)].map((key) => el("button", {
      className: "range", dataset: { range: key }, "aria-pressed": key === "live" ? "true" : "false",
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
    this.status = el("span", { className: "muted", id: "host-status" });
    this.alertsBox = el("div", { id: "host-alerts", className: "host-alerts" });
    const grid = el("div", { className: "chart-grid" });
    this.charts = new HostCharts(grid, (a, b) => {
      from.value = localInput(a);
      to.value = localInput(b);
      this.loadHistory(a, b, "custom");
    });
    this.tableBox = el("div", { className: "table-wrap" });
    this.table = new ProcessTable(this.tableBox);
    this.table.render();
    this.root.replaceChildren(
      el("div", { className: "toolbar" }, el("h2", {}, "Host ", select), el("div", { className: "ranges" }, buttons), custom, this.status),
      this.alertsBox,
      grid,
      el("h3", {}, "Top processes ", el("span", { className: "muted" }, "(CPU is % of the whole machine; click a header to sort)")),
      this.tableBox,
    );
    this.renderAlerts();
  }

  updateHostOptions() {
    if (!this.select || !this.host) return;
    const names = new Set(this.store.hosts.names());
    names.add(this.host);
    this.select.replaceChildren(...[...names].sort().map((name) => el("option", { value: name, selected: name === this.host }, name)));
  }

  setStatus(text) { if (this.status) this.status.textContent = text; }

  markRange(key) {
    for (const b of this.root.querySelectorAll("button.range")) b.setAttribute("aria-pressed", b.dataset.range === key ? "true" : "false");
  }

  // Chart colours come from the theme when a chart is built.
  retheme() {
    if (!this.charts || !this.charts.drawn) return;
    this.charts.build(this.charts.cores);
    this.charts.draw(this.timeline, this.xRange);
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
      this.charts.build(Math.max(1, this.timeline.coreCount));
      this.charts.draw(this.timeline);
      this.table = new ProcessTable(this.tableBox);
      for (const snapshot of recent.processes.slice(-2)) this.table.update(snapshot);
      this.table.render();
      if (!performance.getEntriesByName("hostpulse:first-render").length) performance.mark("hostpulse:first-render");
      this.setStatus("Live: updates as the agent reports");
    } catch (err) {
      if (ticket === this.loading) this.setStatus(`Could not load recent data: ${err.message}`);
    }
  }

  // This host's full frames only.
  liveRequest() { return { summary: false, hosts: this.host ? [this.host] : [] }; }

  onResume() { if (this.host && this.mode === "live") this.loadLive(); }

  onFrame(frame) {
    if (frame.host !== this.host || this.mode !== "live" || !this.charts.drawn) return;
    this.timeline.add(frame.samples);
    this.charts.draw(this.timeline);
    if (frame.processes) this.table.update(frame.processes);
  }

  async loadHistory(fromMs, toMs, key) {
    const ticket = ++this.loading;
    this.mode = key;
    this.markRange(key);
    this.setStatus(`Loading ${formatTime(fromMs)} – ${formatTime(toMs)}…`);
    try {
      const { timeline, resolution } = await fetchHistory(this.host, fromMs, toMs);
      if (ticket !== this.loading) return;
      this.timeline = timeline;
      this.xRange = [fromMs, toMs];
      this.charts.build(Math.max(1, timeline.coreCount));
      this.charts.draw(timeline, this.xRange);
      this.setStatus(`History ${formatTime(fromMs)} – ${formatTime(toMs)} (${formatAge(toMs - fromMs)}, ${resolution} data; drag on a chart to zoom)`);
      this.root.dataset.historyLoaded = key;
    } catch (err) {
      if (ticket === this.loading) this.setStatus(`Could not load history: ${err.message}`);
    }
  }

  renderAlerts() {
    if (!this.alertsBox || !this.host) return;
    this.alertsBox.replaceChildren(alertList(this.store.alerts.forHost(this.host), { empty: "No pending or firing alerts on this host." }));
  }
}
