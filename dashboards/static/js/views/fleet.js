// The fleet: one tile per host, from the store's host summaries.

import { el } from "../dom.js";
import { formatAge, formatBytes, formatPercent } from "../format.js";
import { View } from "../router.js";

// Ages and up/stale move with the clock, not only with frames.
const REDRAW_EVERY_MS = 5000;

// Used share of memory; the used bytes when the agent sends no total.
function memoryText(host) {
  if (host.memRatio != null) return formatPercent(host.memRatio);
  return host.memUsed != null ? `${formatBytes(host.memUsed)} used` : "—";
}

function tile(host, now) {
  const { name, status, firing, pending } = host;
  return el("a", {
    className: `tile ${status}${firing ? " firing" : ""}`, href: `#/host/${encodeURIComponent(name)}`,
    dataset: { host: name, status },
  },
  el("div", { className: "tile-head" }, el("strong", {}, name), el("span", { className: `badge ${status}` }, status)),
  el("dl", {},
    el("dt", {}, "CPU"), el("dd", { className: "cpu" }, formatPercent(host.cpu)),
    el("dt", {}, "Memory"), el("dd", { className: "mem" }, memoryText(host)),
    el("dt", {}, "Alerts"), el("dd", { className: "alerts" }, `${firing} firing`, pending ? `, ${pending} pending` : ""),
    el("dt", {}, "Seen"), el("dd", {}, host.lastSeen ? `${formatAge(now - host.lastSeen)} ago` : "—")));
}

export class FleetView extends View {
  show() {
    this.listen("hosts", () => this.render());
    this.listen("alerts", () => this.render());
    this.listen("host", (name) => this.renderTile(name));
    this.every(REDRAW_EVERY_MS, () => this.render());
    this.render();
  }

  hide() { this.grid = null; }

  renderTile(name) {
    const old = this.grid && this.grid.querySelector(`[data-host="${CSS.escape(name)}"]`);
    if (old) old.replaceWith(tile(this.store.hostSummary(name), Date.now()));
    else this.render();
  }

  render() {
    const names = this.store.hosts.names();
    const now = Date.now();
    this.grid = el("div", { className: "tiles", id: "fleet-tiles" }, names.map((name) => tile(this.store.hostSummary(name, now), now)));
    this.root.replaceChildren(el("h2", {}, `Fleet (${names.length} hosts)`),
      names.length ? this.grid : el("p", { className: "muted" }, "No host has reported yet. Start an exporter with a JSON push token."));
  }
}
