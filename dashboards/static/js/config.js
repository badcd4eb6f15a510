// Configuration, for admins only: alert rules (create, edit, delete, enable/disable), agent
// tokens (create — the secret is shown once — and revoke) and notification webhooks.

import { api } from "./api.js";
import { el, formatTime } from "./format.js";
import { previewRule } from "./rule_preview.js";

const PREVIEW_HOSTS = 20;

function input(name, label, attrs = {}) {
  return el("label", {}, label, el("input", { name, id: `${attrs.prefix || "rule"}-${name}`, ...attrs, prefix: null }));
}

// Prometheus-style selector text: {host="web-1",cpu_mode="user"}.
function matcherText(matchers) {
  const parts = Object.entries(matchers || {}).map(([k, v]) => `${k}="${v}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

export class ConfigView {
  constructor(root) { this.root = root; }

  show() {
    this.message = el("p", { className: "notice", role: "status", id: "config-message" });
    this.rules = el("div", { id: "rules" });
    this.tokens = el("div", { id: "tokens" });
    this.webhooks = el("div", { id: "webhooks" });
    this.retention = el("div", { id: "retention" });
    this.ruleForm = this.buildRuleForm();
    this.previewBox = el("div", { id: "rule-preview-result", className: "muted" });
    this.root.replaceChildren(
      el("h2", {}, "Configuration"), this.message,
      el("section", {}, el("h3", {}, "Alert rules"), this.rules, el("h4", {}, "New or edited rule"), this.ruleForm, this.previewBox),
      el("section", {}, el("h3", {}, "Agent tokens"), this.buildTokenForm(), this.tokens),
      el("section", {}, el("h3", {}, "Webhooks"), this.buildWebhookForm(), this.webhooks),
      el("section", {}, el("h3", {}, "Retention"), this.retention));
    this.loadAll();
  }

  // Read-only: retention comes from the backend's config file or environment.
  renderRetention(r) {
    const rows = [
      ["Raw samples", r.raw_samples], ["1-minute rollups", r.rollup_1m], ["1-hour rollups", r.rollup_1h],
      ["Alert history", r.alert_history], ["Process tables", r.process_snapshots],
      ["Retention job runs every", r.interval],
    ];
    this.retention.replaceChildren(
      el("table", { className: "kv" }, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
      el("p", { className: "muted" }, r.enabled ? `Change under ${r.source}.` : `Retention is off. Change under ${r.source}.`));
  }

  say(text, isError = false) {
    this.message.textContent = text;
    this.message.className = isError ? "notice error" : "notice";
  }

  async run(action, done) {
    try {
      await action();
      if (done) this.say(done);
      await this.loadAll();
    } catch (err) { this.say(err.message, true); }
  }

  async loadAll() {
    try {
      const [rules, tokens, hooks, retention] = await Promise.all([
        api("/api/alert-rules"), api("/api/agent-tokens"), api("/api/webhooks"), api("/api/settings/retention")]);
      this.renderRules(rules.rules);
      this.renderTokens(tokens.tokens);
      this.renderWebhooks(hooks.webhooks);
      this.renderRetention(retention);
    } catch (err) { this.say(err.message, true); }
  }

  buildRuleForm() {
    const form = el("form", { id: "rule-form", className: "form-grid", onsubmit: (e) => { e.preventDefault(); this.saveRule(); } },
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

  // The rule as the API takes it, from the form; null (and a message) when a field is wrong.
  formRule() {
    const f = this.ruleForm.elements;
    const matchers = {};
    for (const part of f.matchers.value.split(",").map((s) => s.trim()).filter(Boolean)) {
      const at = part.indexOf("=");
      if (at < 1) { this.say(`matchers: '${part}' is not name=value`, true); return null; }
      matchers[part.slice(0, at).trim()] = part.slice(at + 1).trim();
    }
    const body = {
      name: f.name.value.trim(), metric: f.metric.value.trim(), op: f.op.value,
      threshold: Number(f.threshold.value), for: f.for.value.trim() || "0s", matchers,
      labels: f.severity.value.trim() ? { severity: f.severity.value.trim() } : {},
      annotations: f.summary.value.trim() ? { summary: f.summary.value.trim() } : {},
      enabled: f.enabled.checked,
    };
    return body;
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
        el("ul", {}, firing.slice(0, 20).map((r) => el("li", {}, `${r.host} ${JSON.stringify(r.labels)}: ${Number(r.value).toPrecision(4)}`))));
    } catch (err) { this.say(err.message, true); }
  }

  async saveRule() {
    const body = this.formRule();
    if (!body) return;
    const f = this.ruleForm.elements;
    const id = f.id.value;
    await this.run(async () => {
      await api(id ? `/api/alert-rules/${id}` : "/api/alert-rules", { method: id ? "PUT" : "POST", body });
      this.ruleForm.reset();
      f.id.value = "";
    }, `Rule ${body.name} saved`);
  }

  edit(rule) {
    const f = this.ruleForm.elements;
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

  renderRules(rules) {
    this.rules.replaceChildren(el("div", { className: "table-wrap" }, el("table", { id: "rules-table" },
      el("thead", {}, el("tr", {}, ["Name", "Expression", "For", "Severity", "Enabled", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rules.map((r) => el("tr", { dataset: { rule: r.name } },
        el("td", {}, r.name),
        el("td", {}, r.kind === "threshold" ? `${r.metric}${matcherText(r.matchers)} ${r.op} ${r.threshold}` : `${r.kind} ${r.metric}`),
        el("td", {}, r.for), el("td", {}, (r.labels || {}).severity || ""),
        el("td", {}, el("button", { className: "toggle", "aria-pressed": r.enabled ? "true" : "false",
          onclick: () => this.run(() => api(`/api/alert-rules/${r.id}/${r.enabled ? "disable" : "enable"}`, { method: "POST" }), `Rule ${r.name} ${r.enabled ? "disabled" : "enabled"}`) },
        r.enabled ? "on" : "off")),
        el("td", {}, el("button", { onclick: () => this.edit(r) }, "Edit"), " ",
          el("button", { className: "danger", onclick: () => { if (confirm(`Delete rule ${r.name}?`)) this.run(() => api(`/api/alert-rules/${r.id}`, { method: "DELETE" }), `Rule ${r.name} deleted`); } }, "Delete"))))))));
  }

  buildTokenForm() {
    this.secret = el("div", { id: "token-secret", className: "secret", hidden: true });
    const form = el("form", { id: "token-form", className: "inline", onsubmit: async (e) => {
      e.preventDefault();
      const name = form.elements.name.value.trim();
      await this.run(async () => {
        const created = await api("/api/agent-tokens", { method: "POST", body: { name } });
        form.reset();
        this.secret.hidden = false;
        this.secret.replaceChildren(el("strong", {}, `Token for ${created.name} (shown once, copy it now): `), el("code", {}, created.token));
      }, "Token created");
    } }, el("input", { name: "name", id: "token-name", required: true, placeholder: "web-1", "aria-label": "Token name" }), el("button", { type: "submit" }, "Create token"));
    return el("div", {}, form, this.secret);
  }

  renderTokens(tokens) {
    this.tokens.replaceChildren(el("div", { className: "table-wrap" }, el("table", { id: "tokens-table" },
      el("thead", {}, el("tr", {}, ["Name", "Created", "Last used", "Status", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, tokens.map((t) => el("tr", { dataset: { token: t.name, id: String(t.id) } },
        el("td", {}, t.name), el("td", {}, formatTime(t.created_at)), el("td", {}, formatTime(t.last_used_at)),
        el("td", {}, t.revoked_at ? `revoked ${formatTime(t.revoked_at)}` : "active"),
        el("td", {}, t.revoked_at ? "" : el("button", { className: "danger revoke", onclick: () => {
          if (confirm(`Revoke token ${t.name}? Its agents can no longer send data.`)) this.run(() => api(`/api/agent-tokens/${t.id}`, { method: "DELETE" }), `Token ${t.name} revoked`);
        } }, "Revoke"))))))));
  }

  buildWebhookForm() {
    const form = el("form", { id: "webhook-form", className: "inline", onsubmit: async (e) => {
      e.preventDefault();
      const body = { name: form.elements.name.value.trim(), url: form.elements.url.value.trim(), generate_secret: true };
      await this.run(async () => {
        const created = await api("/api/webhooks", { method: "POST", body });
        form.reset();
        this.say(`Webhook ${created.name} created; signing secret (shown once): ${created.secret}`);
      });
    } }, el("input", { name: "name", required: true, placeholder: "ops", "aria-label": "Webhook name" }),
    el("input", { name: "url", type: "url", required: true, placeholder: "https://example.org/hook", "aria-label": "Webhook URL" }),
    el("button", { type: "submit" }, "Add webhook"));
    return form;
  }

  renderWebhooks(hooks) {
    this.webhooks.replaceChildren(el("div", { className: "table-wrap" }, el("table", { id: "webhooks-table" },
      el("thead", {}, el("tr", {}, ["Name", "URL", "Resolved too", "Enabled", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, hooks.map((w) => el("tr", {},
        el("td", {}, w.name), el("td", {}, w.url), el("td", {}, w.send_resolved ? "yes" : "no"),
        el("td", {}, el("button", { className: "toggle", "aria-pressed": w.enabled ? "true" : "false",
          onclick: () => this.run(() => api(`/api/webhooks/${w.id}`, { method: "PATCH", body: { enabled: !w.enabled } })) }, w.enabled ? "on" : "off")),
        el("td", {}, el("button", { className: "danger", onclick: () => { if (confirm(`Delete webhook ${w.name}?`)) this.run(() => api(`/api/webhooks/${w.id}`, { method: "DELETE" }), `Webhook ${w.name} deleted`); } }, "Delete"))))))));
  }
}
