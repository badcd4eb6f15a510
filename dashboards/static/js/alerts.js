// Current alerts (loaded once, then kept live from `alert` WebSocket messages) and the alert
// history log with filters.

import { api } from "./api.js";
import { el, formatTime } from "./format.js";

function keyOf(rule, labels) {
  return rule + JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

export class AlertStore {
  constructor() {
    this.active = new Map();
    this.listeners = [];
  }

  onChange(listener) { this.listeners.push(listener); }
  changed() { for (const l of this.listeners) l(); }

  async load() {
    const answer = await api("/api/alerts");
    this.active.clear();
    for (const a of answer.alerts) {
      this.active.set(keyOf(a.rule, a.labels), {
        rule: a.rule, labels: a.labels, host: a.labels.host || "", state: a.state,
        value: a.value, since: a.state === "firing" ? (a.fired_at || a.active_since) : a.active_since,
      });
    }
    this.changed();
  }

  apply(message) {
    const key = keyOf(message.rule, message.labels || {});
    if (message.to === "pending" || message.to === "firing") {
      this.active.set(key, {
        rule: message.rule, labels: message.labels || {}, host: message.host, state: message.to,
        value: message.value, since: message.time,
      });
    } else this.active.delete(key);
    this.changed();
  }

  forHost(host) { return [...this.active.values()].filter((a) => a.host === host); }

  count(host, state) { return this.forHost(host).filter((a) => a.state === state).length; }
}

export class AlertsView {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.cursor = null;
  }

  show() {
    const field = (name, label, type = "text") => el("label", {}, label, el("input", { name, type, id: `filter-${name}` }));
    this.form = el("form", { className: "filters", id: "alert-filters", onsubmit: (e) => { e.preventDefault(); this.load(false); } },
      field("host", "Host"), field("rule", "Rule"), field("severity", "Severity"),
      field("from", "From", "datetime-local"), field("to", "To", "datetime-local"),
      el("button", { type: "submit" }, "Filter"));
    this.current = el("div", { id: "current-alerts" });
    this.body = el("tbody");
    this.more = el("button", { onclick: () => this.load(true), hidden: true }, "Older…");
    this.error = el("p", { className: "error", role: "alert" });
    this.root.replaceChildren(
      el("h2", {}, "Alerts"),
      el("h3", {}, "Pending and firing now"), this.current,
      el("h3", {}, "History"), this.form, this.error,
      el("div", { className: "table-wrap" }, el("table", { id: "alert-history" },
        el("thead", {}, el("tr", {}, ["Time", "Host", "Rule", "Severity", "Transition", "Value", "Reason"].map((h) => el("th", {}, h)))),
        this.body)),
      this.more);
    this.renderCurrent();
    this.load(false);
  }

  renderCurrent() {
    if (!this.current) return;
    const all = [...this.store.active.values()];
    this.current.replaceChildren(all.length
      ? el("ul", { className: "alert-list" }, all.map((a) => el("li", { className: `alert ${a.state}` },
        el("strong", {}, a.state.toUpperCase()), ` ${a.rule} on ${a.host || "—"} `,
        a.value != null ? `value ${Number(a.value).toPrecision(4)} ` : "",
        el("span", { className: "muted" }, `since ${formatTime(a.since)}`))))
      : el("p", { className: "muted" }, "Nothing pending or firing."));
  }

  async load(older) {
    const data = new FormData(this.form);
    const iso = (v) => (v ? new Date(v).toISOString() : null);
    const query = {
      host: data.get("host"), rule: data.get("rule"), severity: data.get("severity"),
      from: iso(data.get("from")), to: iso(data.get("to")), limit: 100,
      cursor: older ? this.cursor : null,
    };
    try {
      const answer = await api("/api/alerts/history", { query });
      this.error.textContent = "";
      const rows = answer.transitions.map((t) => el("tr", { className: `to-${t.to_state}` },
        el("td", {}, formatTime(t.time)), el("td", {}, t.host), el("td", {}, t.rule), el("td", {}, t.severity),
        el("td", {}, `${t.from_state} → ${t.to_state}`), el("td", { className: "num" }, t.value == null ? "—" : Number(t.value).toPrecision(4)),
        el("td", {}, t.reason)));
      if (older) this.body.append(...rows);
      else this.body.replaceChildren(...rows);
      this.cursor = answer.next_cursor;
      this.more.hidden = !this.cursor;
    } catch (err) {
      this.error.textContent = err.message;
    }
  }

  // A live transition: prepend it when no filter is set, so the log follows along.
  onAlert(message) {
    this.renderCurrent();
    if (!this.body || [...new FormData(this.form).values()].some((v) => v)) return;
    this.body.prepend(el("tr", { className: `to-${message.to}` },
      el("td", {}, formatTime(message.time)), el("td", {}, message.host), el("td", {}, message.rule),
      el("td", {}, message.severity), el("td", {}, `${message.from} → ${message.to}`),
      el("td", { className: "num" }, message.value == null ? "—" : Number(message.value).toPrecision(4)),
      el("td", {}, message.reason)));
  }
}
