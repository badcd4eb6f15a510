// The backend's own /metrics: ingest, latency, writer, WebSocket; read only while shown.

import { api } from "../api.js";
import { Chart } from "../components/chart.js";
import { el } from "../dom.js";
import { formatCount } from "../format.js";
import { histogramQuantile, parseExposition, sum } from "../metrics/exposition.js";
import { View } from "../router.js";

const EVERY_MS = 5000;
const CHART_SPAN_MS = 15 * 60 * 1000;

function isIngestRoute(labels) {
  const route = labels.http_route || "";
  return route.startsWith("/ingest") || route === "/v1/metrics" || route === "/api/v1/write";
}

const ms = (seconds) => (seconds == null ? "—" : `${(seconds * 1000).toFixed(1)} ms`);

export class PerfView extends View {
  show() {
    this.cards = el("div", { className: "cards", id: "perf-cards" });
    const box = el("div", { className: "chart", id: "chart-ingest" });
    this.root.replaceChildren(el("h2", {}, "Backend performance"),
      el("p", { className: "muted" }, "From the backend's own /metrics, read every 5 s while this page is open."), this.cards, box);
    this.chart = new Chart(box, { title: "Samples ingested per second", unit: "count", series: [{ label: "samples/s" }] });
    this.rates = [[], []]; // uPlot's columns
    this.previous = null;
    this.tick();
    this.every(EVERY_MS, () => this.tick());
  }

  hide() {
    this.chart.destroy();
    this.chart = null;
  }

  // Chart colours come from the theme when the chart is built.
  retheme() {
    this.release();
    this.hide();
    this.show();
  }

  addRate(now, rate) {
    const [xs, ys] = this.rates;
    xs.push(now / 1000);
    ys.push(rate);
    let old = 0;
    while (xs[old] < (now - CHART_SPAN_MS) / 1000) old++;
    xs.splice(0, old);
    ys.splice(0, old);
    this.chart.update(this.rates);
  }

  async tick() {
    let samples;
    try { samples = parseExposition(await api("/metrics")); } catch (err) {
      this.cards.replaceChildren(el("p", { className: "error" }, err.message));
      return;
    }
    if (!this.chart) return; // hidden meanwhile
    const now = Date.now();
    const ingested = sum(samples, "hostpulse_ingest_samples_total");
    let rate = null;
    if (this.previous) rate = ((ingested - this.previous.ingested) * 1000) / (now - this.previous.at);
    this.previous = { at: now, ingested };
    if (rate != null) this.addRate(now, rate);
    const ingestOnly = samples.filter((s) => s.name !== "http_server_request_duration_seconds_bucket" || isIngestRoute(s.labels));
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
