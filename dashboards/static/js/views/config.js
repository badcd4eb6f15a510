// Configuration (admins only): one panel per resource.

import { el } from "../dom.js";
import { Notice } from "../config/panel.js";
import { RetentionPanel } from "../config/retention.js";
import { RulesPanel } from "../config/rules.js";
import { TokensPanel } from "../config/tokens.js";
import { WebhooksPanel } from "../config/webhooks.js";
import { View } from "../router.js";

const PANELS = [RulesPanel, TokensPanel, WebhooksPanel, RetentionPanel];

export class ConfigView extends View {
  show() {
    const notice = new Notice();
    const panels = PANELS.map((Panel) => new Panel(notice));
    this.root.replaceChildren(el("h2", {}, "Configuration"), notice.element, ...panels.map((p) => p.section));
    for (const panel of panels) panel.load();
  }
}
