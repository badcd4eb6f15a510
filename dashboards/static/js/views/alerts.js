// Pending and firing alerts now, and the transition history with filters.

import { api } from "../api.js";
import { alertList } from "../components/alert_list.js";
import { el, table } from "../dom.js";
import { formatTime, formatValue } from "../format.js";
import { View } from "../router.js";

const HISTORY_COLUMNS = ["Time", "Host", "Rule", "Severity", "Transition", "Value", "Reason"];

// `from`/`to` as live messages name them.
function transitionRow(t) {
  return el("tr", { className: `to-${t.to}` },
    el("td", {}, formatTime(t.time)), el("td", {}, t.host), el("td", {}, t.rule), el("td", {}, t.severity),
    el("td", {}, `${t.from} → ${t.to}`), el("td", { className: "num" }, formatValue(t.value)), el("td", {}, t.reason));
}

export class AlertsView extends View {
  show() {
    const field = (name, label, type = "text") => el("label", {}, label, el("input", { name, type, id: `filter-${name}` }));
    this.form = el("form", { className: "filters", id: "alert-filters", onsubmit: (e) => { e.preventDefault(); this.load(false); } },
      field("host", "Host"), field("rule", "Rule"), field("severity", "Severity"),
      field("from", "From", "datetime-local"), field("to", "To", "datetime-local"),
      el("button", { type: "submit" }, "Filter"));
    this.current = el("div", { id: "current-alerts" });
    const history = table({ id: "alert-history" }, HISTORY_COLUMNS, []);
    this.body = history.querySelector("tbody");
    this.more = el("button", { onclick: () => this.load(true), hidden: true }, "Older…");
    this.error = el("p", { className: "error", role: "alert" });
    this.root.replaceChildren(
      el("h2", {}, "Alerts"),
      el("h3", {}, "Pending and firing now"), this.current,
      el("h3", {}, "History"), this.form, this.error, history, this.more);
    this.listen("alerts", (transition) => {
      this.renderCurrent();
      if (transition) this.follow(transition);
    });
    this.renderCurrent();
    this.load(false);
  }

  renderCurrent() {
    this.current.replaceChildren(alertList(this.store.alerts.all(), { withHost: true, empty: "Nothing pending or firing." }));
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
      const rows = answer.transitions.map((t) => transitionRow({ ...t, from: t.from_state, to: t.to_state }));
      if (older) this.body.append(...rows);
      else this.body.replaceChildren(...rows);
      this.cursor = answer.next_cursor;
      this.more.hidden = !this.cursor;
    } catch (err) {
      this.error.textContent = err.message;
    }
  }

  // Unfiltered, the log follows live transitions.
  follow(transition) {
    if ([...new FormData(this.form).values()].some((v) => v)) return;
    this.body.prepend(transitionRow(transition));
  }
}
