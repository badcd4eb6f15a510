// Agent tokens; the secret is shown once.

import { api } from "../api.js";
import { el, table } from "../dom.js";
import { formatTime } from "../format.js";
import { ResourcePanel, confirmButton } from "./panel.js";

export class TokensPanel extends ResourcePanel {
  constructor(notice) {
    super(notice, "/api/agent-tokens");
    this.list = el("div", { id: "tokens" });
    this.secret = el("div", { id: "token-secret", className: "secret", hidden: true });
    const form = el("form", { id: "token-form", className: "inline", onsubmit: (e) => {
      e.preventDefault();
      const name = form.elements.name.value.trim();
      this.run(async () => {
        const created = await api(this.path, { method: "POST", body: { name } });
        form.reset();
        this.secret.hidden = false;
        this.secret.replaceChildren(el("strong", {}, `Token for ${created.name} (shown once, copy it now): `), el("code", {}, created.token));
      }, "Token created");
    } }, el("input", { name: "name", id: "token-name", required: true, placeholder: "web-1", "aria-label": "Token name" }), el("button", { type: "submit" }, "Create token"));
    this.section = el("section", {}, el("h3", {}, "Agent tokens"), el("div", {}, form, this.secret), this.list);
  }

  render({ tokens }) {
    this.list.replaceChildren(table({ id: "tokens-table" }, ["Name", "Created", "Last used", "Status", ""], tokens.map((t) => el("tr", { dataset: { token: t.name, id: String(t.id) } },
      el("td", {}, t.name), el("td", {}, formatTime(t.created_at)), el("td", {}, formatTime(t.last_used_at)),
      el("td", {}, t.revoked_at ? `revoked ${formatTime(t.revoked_at)}` : "active"),
      el("td", {}, t.revoked_at ? "" : confirmButton("Revoke", `Revoke token ${t.name}? Its agents can no longer send data.`,
        () => this.run(() => api(`${this.path}/${t.id}`, { method: "DELETE" }), `Token ${t.name} revoked`), "danger revoke"))))));
  }
}
