// The backend's own health, from its Prometheus `/metrics`: ingest rate, request latency,
// writer queue and lag, WebSocket clients. Read every few seconds only while this view is open.

import { api } from "./api.js";
import { Chart } from "./charts.js";
import { el, formatCount } from "./format.js";
import { HostTimeline } from "./timeline.js";

const EVERY_MS = 5000;

// Prometheus text exposition → [{name, labels, value}] (comments and malformed lines skipped).
export function parseExposition(text) {
  const out = [];
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const raw of text.split("\n")) {
    if (!raw || raw.startsWith("#")) continue;
    const m = line.exec(raw);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(label)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function sum(samples, name, filter = () => true) {
  return samples.filter((s) => s.name === name && filter(s.labels)).reduce((a, s) => a + s.value, 0);
}

// A quantile of a histogram summed over every label set but `le`.
export function histogramQuantile(samples, name, q) {
  const buckets = new Map();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) || 0) + s.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  if (!sorted.length) return null;
  const total = sorted[sorted.length - 1][1];
  if (!total) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / Math.max(1e-9, count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

export class PerfView {
  constructor(root) {
    this.root = root;
    this.timer = null;
    this.previous = null;
  }

  show() {
    this.cards = el("div", { className: "cards", id: "perf-cards" });
    this.box = el("div", { className: "chart", id: "chart-ingest" });
    this.root.replaceChildren(el("h2", {}, "Backend performance"),
      el("p", { className: "muted" }, "From the backend's own /metrics, read every 5 s while this page is open."), this.cards, this.box);
    this.timeline = new HostTimeline(15 * 60 * 1000);
    this.chart = new Chart(this.box, { title: "Samples ingested per second", unit: "count", series: [{ label: "samples/s", field: "threads" }] });
    this.previous = null;
    this.tick();
    this.timer = setInterval(() => this.tick(), EVERY_MS);
  }

  hide() {
    clearInterval(this.timer);
    if (this.chart) this.chart.destroy();
    this.chart = null;
  }

  async tick() {
    let samples;
    try { samples = parseExposition(await api("/metrics")); } catch (err) {
      this.cards.replaceChildren(el("p", { className: "error" }, err.message));
      return;
    }
    const now = Date.now();
    const ingested = sum(samples, "hostpulse_ingest_samples_total");
    let rate = null;
    if (this.previous) rate = ((ingested - this.previous.ingested) * 1000) / (now - this.previous.at);
    this.previous = { at: now, ingested };
    if (rate != null && this.chart) {
      // The timeline's generic "threads" field doubles as a plain number column here.
      this.timeline.add([{ name: "hostpulse_system_threads", labels: {}, time_ms: now, value: rate }]);
      this.chart.update(this.timeline);
    }
    const ingestRoutes = (l) => (l.http_route || "").startsWith("/ingest") || l.http_route === "/v1/metrics" || l.http_route === "/api/v1/write";
    const ms = (s) => (s == null ? "—" : `${(s * 1000).toFixed(1)} ms`);
    const ingestOnly = samples.filter((s) => s.name !== "http_server_request_duration_seconds_bucket" || ingestRoutes(s.labels));
    const card = (label, value, id) => el("div", { className: "card", id }, el("span", { className: "muted" }, label), el("strong", {}, value));
    this.cards.replaceChildren(
      card("Ingest rate", rate == null ? "measuring…" : `${formatCount(rate)} samples/s`, "perf-ingest"),
      card("Ingest requests", formatCount(sum(samples, "hostpulse_ingest_requests_total")), "perf-requests"),
      card("Rejected", formatCount(sum(samples, "hostpulse_ingest_rejected_total")), "perf-rejected"),
      card("Request latency p50 / p95 (all)", `${ms(histogramQuantile(samples, "http_server_request_duration_seconds", 0.5))} / ${ms(histogramQuantile(samples, "http_server_request_duration_seconds", 0.95))}`, "perf-latency"),
      card("Ingest latency p95", ms(histogramQuantile(ingestOnly, "http_server_request_duration_seconds", 0.95)), "perf-ingest-latency"),
      card("Writer queue", `${formatCount(sum(samples, "hostpulse_writer_queue_samples"))} samples`, "perf-queue"),
      card("Writer lag", `${sum(samples, "hostpulse_writer_lag_seconds").toFixed(2)} s`, "perf-lag"),
      card("WebSocket clients", formatCount(sum(samples, "hostpulse_live_clients")), "perf-ws"),
      card("Dropped live frames", formatCount(sum(samples, "hostpulse_live_dropped_frames_total")), "perf-dropped"));
  }
}
