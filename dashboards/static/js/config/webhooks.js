// Notification webhooks; the signing secret is shown once.

import { api } from "../api.js";
import { el, table } from "../dom.js";
import { ResourcePanel, confirmButton, toggleButton } from "./panel.js";

export class WebhooksPanel extends ResourcePanel {
  constructor(notice) {
    super(notice, "/api/webhooks");
    this.list = el("div", { id: "webhooks" });
    const form = el("form", { id: "webhook-form", className: "inline", onsubmit: (e) => {
      e.preventDefault();
      const body = { name: form.elements.name.value.trim(), url: form.elements.url.value.trim(), generate_secret: true };
      this.run(async () => {
        const created = await api(this.path, { method: "POST", body });
        form.reset();
        this.notice.say(`Webhook ${created.name} created; signing secret (shown once): ${created.secret}`);
      });
    } }, el("input", { name: "name", required: true, placeholder: "ops", "aria-label": "Webhook name" }),
    el("input", { name: "url", type: "url", required: true, placeholder: "https://example.org/hook", "aria-label": "Webhook URL" }),
    el("button", { type: "submit" }, "Add webhook"));
    this.section = el("section", {}, el("h3", {}, "Webhooks"), form, this.list);
  }

  render({ webhooks }) {
    this.list.replaceChildren(table({ id: "webhooks-table" }, ["Name", "URL", "Resolved too", "Enabled", ""], webhooks.map((w) => el("tr", {},
      el("td", {}, w.name), el("td", {}, w.url), el("td", {}, w.send_resolved ? "yes" : "no"),
      el("td", {}, toggleButton(w.enabled, () => this.run(() => api(`${this.path}/${w.id}`, { method: "PATCH", body: { enabled: !w.enabled } })))),
      el("td", {}, confirmButton("Delete", `Delete webhook ${w.name}?`, () => this.run(() => api(`${this.path}/${w.id}`, { method: "DELETE" }), `Webhook ${w.name} deleted`)))))));
  }
}
