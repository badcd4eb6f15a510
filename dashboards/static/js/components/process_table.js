// The top-process table: live, sortable by any column. CPU % is of the whole machine
// (the agent normalises by elapsed time × number of CPUs), as its header says.

import { el } from "../dom.js";
import { formatBytes, formatCount, formatPercent, formatRate } from "../format.js";

const COLUMNS = [
  { key: "name", label: "Name", text: (p) => p.name },
  { key: "pid", label: "PID", text: (p) => String(p.pid), numeric: true },
  { key: "cpu_utilization", label: "CPU (% of machine)", text: (p) => formatPercent(p.cpu_utilization), numeric: true },
  { key: "memory_rss_bytes", label: "Memory (RSS)", text: (p) => formatBytes(p.memory_rss_bytes), numeric: true },
  { key: "threads", label: "Threads", text: (p) => formatCount(p.threads), numeric: true },
  { key: "io_rate", label: "Disk I/O (read+write)", text: (p) => (p.io_rate != null ? formatRate(p.io_rate) : (p.io_total != null ? `${formatBytes(p.io_total)} total` : "—")), numeric: true },
  { key: "open_fds", label: "Handles", text: (p) => formatCount(p.open_fds), numeric: true },
];

function ioTotal(p) {
  if (p.disk_read_bytes == null && p.disk_write_bytes == null) return null;
  return (p.disk_read_bytes || 0) + (p.disk_write_bytes || 0);
}

export class ProcessTable {
  constructor(container) {
    this.container = container;
    this.sortKey = "cpu_utilization";
    this.descending = true;
    this.previous = null;
    this.rows = [];
    this.time = null;
  }

  // A snapshot {time_ms, processes}; I/O rates come from the previous snapshot of the same PID.
  update(snapshot) {
    if (!snapshot) return;
    const before = new Map();
    if (this.previous) for (const p of this.previous.processes) before.set(p.pid, p);
    const dt = this.previous ? (snapshot.time_ms - this.previous.time_ms) / 1000 : 0;
    this.rows = snapshot.processes.map((p) => {
      const total = ioTotal(p);
      const old = before.get(p.pid);
      const oldTotal = old ? ioTotal(old) : null;
      const rate = dt > 0 && total != null && oldTotal != null && total >= oldTotal ? (total - oldTotal) / dt : null;
      return { ...p, io_total: total, io_rate: rate };
    });
    this.previous = snapshot;
    this.time = snapshot.time_ms;
    this.render();
  }

  sortBy(key) {
    if (this.sortKey === key) this.descending = !this.descending;
    else { this.sortKey = key; this.descending = key !== "name"; }
    this.render();
  }

  render() {
    const key = this.sortKey;
    const sign = this.descending ? -1 : 1;
    const rows = [...this.rows].sort((a, b) => {
      const x = a[key] ?? -Infinity;
      const y = b[key] ?? -Infinity;
      return (typeof x === "string" ? x.localeCompare(y) : x - y) * sign;
    });
    const head = el("tr", {}, COLUMNS.map((c) => el("th", {
      className: c.numeric ? "num sortable" : "sortable",
      "aria-sort": c.key === key ? (this.descending ? "descending" : "ascending") : null,
      dataset: { key: c.key },
      onclick: () => this.sortBy(c.key),
    }, c.label, c.key === key ? (this.descending ? " ▼" : " ▲") : "")));
    const body = rows.length
      ? rows.map((p) => el("tr", { dataset: { pid: String(p.pid) } },
        COLUMNS.map((c) => el("td", { className: c.numeric ? "num" : "" }, c.text(p)))))
      : [el("tr", {}, el("td", { colspan: COLUMNS.length, className: "empty" }, "No process table yet"))];
    this.container.replaceChildren(el("table", { className: "processes", id: "process-table" },
      el("thead", {}, head), el("tbody", {}, body)));
  }
}
