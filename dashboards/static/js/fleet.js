// The fleet: one tile per host (up/stale, CPU, memory, alerts), kept live from WebSocket frames.

import { api } from "./api.js";
import { el, formatAge, formatBytes, formatPercent } from "./format.js";
import { HostTimeline } from "./timeline.js";

const INITIAL_RECENT_HOSTS = 24;

// Used share of memory; the used bytes when the agent sends no total.
function memoryText(timeline) {
  const ratio = timeline.latest("memRatio");
  if (ratio != null) return formatPercent(ratio);
  const used = timeline.latest("memUsed");
  return used != null ? `${formatBytes(used)} used` : "—";
}

export class Fleet {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.hosts = new Map();
    this.staleAfterMs = 30000;
    this.visible = false;
  }

  entry(name) {
    let h = this.hosts.get(name);
    if (!h) {
      h = { name, lastSeen: 0, timeline: new HostTimeline(60000) };
      this.hosts.set(name, h);
    }
    return h;
  }

  names() { return [...this.hosts.keys()].sort(); }

  async load() {
    const answer = await api("/api/hosts");
    this.staleAfterMs = answer.stale_after_seconds * 1000;
    for (const h of answer.hosts) this.entry(h.name).lastSeen = Date.parse(h.last_seen);
    // Numbers for the first tiles; from then on frames keep them current.
    await Promise.all(answer.hosts.slice(0, INITIAL_RECENT_HOSTS).map(async (h) => {
      try {
        const recent = await api("/api/metrics/recent", { query: { host: h.name } });
        const cutoff = Date.now() - 60000;
        this.entry(h.name).timeline.add(recent.samples.filter((s) => s.time_ms >= cutoff));
      } catch { /* the tile shows dashes until the next frame */ }
    }));
    this.render();
  }

  onFrame(frame) {
    const h = this.entry(frame.host);
    h.timeline.add(frame.samples);
    h.lastSeen = Math.max(h.lastSeen, frame.accepted_ms || Date.now());
    if (this.visible) this.renderTile(h);
  }

  status(h) { return Date.now() - h.lastSeen > this.staleAfterMs ? "stale" : "up"; }

  tile(h) {
    const firing = this.app.alerts.count(h.name, "firing");
    const pending = this.app.alerts.count(h.name, "pending");
    const status = this.status(h);
    return el("a", {
      className: `tile ${status}${firing ? " firing" : ""}`, href: `#/host/${encodeURIComponent(h.name)}`,
      dataset: { host: h.name, status },
    },
    el("div", { className: "tile-head" }, el("strong", {}, h.name), el("span", { className: `badge ${status}` }, status)),
    el("dl", {},
      el("dt", {}, "CPU"), el("dd", { className: "cpu" }, formatPercent(h.timeline.latest("cpu"))),
      el("dt", {}, "Memory"), el("dd", { className: "mem" }, memoryText(h.timeline)),
      el("dt", {}, "Alerts"), el("dd", { className: "alerts" }, `${firing} firing`, pending ? `, ${pending} pending` : ""),
      el("dt", {}, "Seen"), el("dd", {}, h.lastSeen ? `${formatAge(Date.now() - h.lastSeen)} ago` : "—")));
  }

  renderTile(h) {
    const old = this.grid && this.grid.querySelector(`[data-host="${CSS.escape(h.name)}"]`);
    if (old) old.replaceWith(this.tile(h));
    else this.render();
  }

  render() {
    if (!this.visible) return;
    const names = this.names();
    this.grid = el("div", { className: "tiles", id: "fleet-tiles" }, names.map((n) => this.tile(this.hosts.get(n))));
    this.root.replaceChildren(el("h2", {}, `Fleet (${names.length} hosts)`),
      names.length ? this.grid : el("p", { className: "muted" }, "No host has reported yet. Start an exporter with a JSON push token."));
  }
}
