
import { el } from "../dom.js";
import { formatTime, formatValue } from "../format.js";

export function alertList(alerts, { withHost = false, empty }) {
  if (!alerts.length) return el("p", { className: "muted" }, empty);
  return el("ul", { className: "alert-list" }, alerts.map((a) => el("li", { className: `alert ${a.state}`, dataset: { rule: a.rule } },
    el("strong", {}, a.state.toUpperCase()), ` ${a.rule} `, withHost ? `on ${a.host || "—"} ` : "",
    a.value != null ? `value ${formatValue(a.value)} ` : "",
    a.since ? el("span", { className: "muted" }, `since ${formatTime(a.since)}`) : "")));
}
