// Alert rules: list, form, and a preview of the form's rule on recent samples.

import { api } from "../api.js";
import { el, table } from "../dom.js";
import { formatValue } from "../format.js";
import { ResourcePanel, confirmButton, toggleButton } from "./panel.js";
import { previewRule } from "./rule_preview.js";

const PREVIEW_HOSTS = 20;

function input(name, label, attrs = {}) {
  return el("label", {}, label, el("input", { name, id: `rule-${name}`, ...attrs }));
}

// Prometheus-style selector text: {host="web-1",cpu_mode="user"}.
function matcherText(matchers) {
  const parts = Object.entries(matchers || {}).map(([k, v]) => `${k}="${v}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

export class RulesPanel extends ResourcePanel {
  constructor(notice) {
    super(notice, "/api/alert-rules");
    this.list = el("div", { id: "rules" });
    this.form = this.buildForm();
    this.previewBox = el("div", { id: "rule-preview-result", className: "muted" });
    this.section = el("section", {}, el("h3", {}, "Alert rules"), this.list,
      el("h4", {}, "New or edited rule"), this.form, this.previewBox);
  }

  buildForm() {
    const form = el("form", { id: "rule-form", className: "form-grid", onsubmit: (e) => { e.preventDefault(); this.save(); } },
      el("input", { type: "hidden", name: "id" }),
      input("name", "Name", { required: true, pattern: "[A-Za-z_][A-Za-z0-9_]*", placeholder: "HighCpu" }),
      input("metric", "Metric", { required: true, placeholder: "system_cpu_utilization_ratio" }),
      el("label", {}, "Operator", el("select", { name: "op", id: "rule-op" }, [">", ">=", "<", "<=", "==", "!="].map((o) => el("option", { value: o }, o)))),
      input("threshold", "Threshold", { type: "number", step: "any", required: true, value: "0.9" }),
      input("for", "For (e.g. 1m)", { value: "1m" }),
      input("matchers", "Matchers (k=v, comma separated)", { placeholder: "cpu_mode=user" }),
      input("severity", "Severity", { value: "warning" }),
      input("summary", "Summary"),
      el("label", { className: "check" }, el("input", { type: "checkbox", name: "enabled", checked: true, id: "rule-enabled" }), " enabled"),
      el("button", { type: "submit", id: "rule-save" }, "Save rule"),
      el("button", { type: "button", id: "rule-preview", onclick: () => this.preview() }, "Preview on recent data"),
      el("button", { type: "reset", onclick: () => { form.elements.id.value = ""; } }, "Clear"));
    return form;
  }

  // null (and a notice) when a field is wrong
  formRule() {
    const f = this.form.elements;
    const matchers = {};
    for (const part of f.matchers.value.split(",").map((s) => s.trim()).filter(Boolean)) {
      const at = part.indexOf("=");
      if (at < 1) { this.notice.say(`matchers: '${part}' is not name=value`, true); return null; }
      matchers[part.slice(0, at).trim()] = part.slice(at + 1).trim();
    }
    return {
      name: f.name.value.trim(), metric: f.metric.value.trim(), op: f.op.value,
      threshold: Number(f.threshold.value), for: f.for.value.trim() || "0s", matchers,
      labels: f.severity.value.trim() ? { severity: f.severity.value.trim() } : {},
      annotations: f.summary.value.trim() ? { summary: f.summary.value.trim() } : {},
      enabled: f.enabled.checked,
    };
  }

  async preview() {
    const rule = this.formRule();
    if (!rule) return;
    try {
      const hosts = (await api("/api/hosts")).hosts.slice(0, PREVIEW_HOSTS);
      const recent = {};
      await Promise.all(hosts.map(async (h) => {
        recent[h.name] = (await api("/api/metrics/recent", { query: { host: h.name } })).samples;
      }));
      const results = previewRule(rule, recent);
      const firing = results.filter((r) => r.fires);
      this.previewBox.replaceChildren(
        el("p", {}, `${rule.metric}: ${results.length} matching series on ${hosts.length} hosts; ${firing.length} meeting the condition now.`),
        el("ul", {}, firing.slice(0, 20).map((r) => el("li", {}, `${r.host} ${JSON.stringify(r.labels)}: ${formatValue(r.value)}`))));
    } catch (err) { this.notice.say(err.message, true); }
  }

  async save() {
    const body = this.formRule();
    if (!body) return;
    const id = this.form.elements.id.value;
    await this.run(async () => {
      await api(id ? `${this.path}/${id}` : this.path, { method: id ? "PUT" : "POST", body });
      this.form.reset();
      this.form.elements.id.value = "";
    }, `Rule ${body.name} saved`);
  }

  edit(rule) {
    const f = this.form.elements;
    f.id.value = rule.id;
    f.name.value = rule.name;
    f.metric.value = rule.metric;
    f.op.value = rule.op;
    f.threshold.value = rule.threshold;
    f.for.value = rule.for;
    f.matchers.value = Object.entries(rule.matchers || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    f.severity.value = (rule.labels || {}).severity || "";
    f.summary.value = (rule.annotations || {}).summary || "";
    f.enabled.checked = rule.enabled;
    f.name.focus();
  }

  render({ rules }) {
    this.list.replaceChildren(table({ id: "rules-table" }, ["Name", "Expression", "For", "Severity", "Enabled", ""], rules.map((r) => el("tr", { dataset: { rule: r.name } },
      el("td", {}, r.name),
      el("td", {}, r.kind === "threshold" ? `${r.metric}${matcherText(r.matchers)} ${r.op} ${r.threshold}` : `${r.kind} ${r.metric}`),
      el("td", {}, r.for), el("td", {}, (r.labels || {}).severity || ""),
      el("td", {}, toggleButton(r.enabled, () => this.run(
        () => api(`${this.path}/${r.id}/${r.enabled ? "disable" : "enable"}`, { method: "POST" }), `Rule ${r.name} ${r.enabled ? "disabled" : "enabled"}`))),
      el("td", {}, el("button", { onclick: () => this.edit(r) }, "Edit"), " ",
        confirmButton("Delete", `Delete rule ${r.name}?`, () => this.run(() => api(`${this.path}/${r.id}`, { method: "DELETE" }), `Rule ${r.name} deleted`)))))));
  }
}
