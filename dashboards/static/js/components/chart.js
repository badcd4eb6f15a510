// Thin wrapper around the vendored uPlot (global `uPlot`, loaded by index.html): themed axes,
// units on the axis and legend, resize with the container, drag-to-zoom reported to the caller.

import { formatBytes, formatCount, formatPercent, formatRate } from "../format.js";

const PALETTE = ["#3b82f6", "#ef4444", "#10b981", "#f59e0b", "#8b5cf6", "#ec4899", "#14b8a6",
  "#f97316", "#6366f1", "#84cc16", "#06b6d4", "#e11d48", "#a855f7", "#22c55e", "#eab308", "#0ea5e9"];

const UNITS = {
  percent: { format: (v) => formatPercent(v, 0), legend: (v) => formatPercent(v), range: [0, 1] },
  bytes: { format: formatBytes, legend: formatBytes },
  rate: { format: formatRate, legend: formatRate },
  count: { format: formatCount, legend: formatCount },
};

export function color(i) { return PALETTE[i % PALETTE.length]; }

function themeColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export class Chart {
  // series: [{label, field}], unit: a key of UNITS; onZoom(fromMs, toMs) after a drag selection.
  constructor(container, { title, series, unit, onZoom }) {
    this.container = container;
    this.fields = series.map((s) => s.field);
    const u = UNITS[unit];
    const axisColor = themeColor("--muted");
    const gridColor = themeColor("--grid");
    const opts = {
      title,
      width: Math.max(200, container.clientWidth || 400),
      height: 170,
      cursor: { drag: { x: true, y: false, setScale: true } },
      legend: { live: true },
      scales: { x: { time: true }, y: u.range ? { range: (_u, _min, max) => [0, Math.max(u.range[1], max || 0)] } : { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1)] } },
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor } },
        { stroke: axisColor, grid: { stroke: gridColor }, size: 84, values: (_u, ticks) => ticks.map(u.format) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color || color(i),
          width: 1.5,
          spanGaps: true,
          // uPlot's default shows points only where they are sparse (a lone sample stays visible).
          value: (_u, v) => u.legend(v),
        })),
      ],
      hooks: {
        setSelect: [(plot) => {
          if (!onZoom || plot.select.width < 5) return;
          const from = plot.posToVal(plot.select.left, "x") * 1000;
          const to = plot.posToVal(plot.select.left + plot.select.width, "x") * 1000;
          onZoom(Math.round(from), Math.round(to));
        }],
      },
    };
    this.plot = new uPlot(opts, [[], ...series.map(() => [])], container);
    this.resizer = new ResizeObserver(() => {
      const width = container.clientWidth;
      if (width && Math.abs(width - this.plot.width) > 2) this.plot.setSize({ width, height: 170 });
    });
    this.resizer.observe(container);
  }

  // data: [x seconds, ...a column per field]; xRange [fromMs, toMs] pins the time axis.
  update(data, xRange = null) {
    this.plot.setData(data, !xRange);
    if (xRange) this.plot.setScale("x", { min: xRange[0] / 1000, max: xRange[1] / 1000 });
    const xs = data[0];
    // For tests and the benchmark: what the chart shows, readable from the DOM.
    this.container.dataset.points = String(xs.length);
    this.container.dataset.lastMs = xs.length ? String(Math.round(xs[xs.length - 1] * 1000)) : "";
  }

  destroy() {
    this.resizer.disconnect();
    this.plot.destroy();
  }
}
