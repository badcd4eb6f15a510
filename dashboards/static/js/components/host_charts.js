// The host view's charts, drawn from a HostTimeline.

import { el } from "../dom.js";
import { Chart, color } from "./chart.js";

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

export class HostCharts {
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
