// Retention, read-only: set in the backend's config file or environment.

import { el } from "../dom.js";
import { ResourcePanel } from "./panel.js";

export class RetentionPanel extends ResourcePanel {
  constructor(notice) {
    super(notice, "/api/settings/retention");
    this.list = el("div", { id: "retention" });
    this.section = el("section", {}, el("h3", {}, "Retention"), this.list);
  }

  render(r) {
    const rows = [
      ["Raw samples", r.raw_samples], ["1-minute rollups", r.rollup_1m], ["1-hour rollups", r.rollup_1h],
      ["Alert history", r.alert_history], ["Process tables", r.process_snapshots],
      ["Retention job runs every", r.interval],
    ];
    this.list.replaceChildren(
      el("table", { className: "kv" }, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
      el("p", { className: "muted" }, r.enabled ? `Change under ${r.source}.` : `Retention is off. Change under ${r.source}.`));
  }
}
