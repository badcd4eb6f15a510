// What every configuration panel shares: one notice line for the page, loading the panel's
// resource, running an action and then showing the resource as it now is, and the buttons.

import { api } from "../api.js";
import { el } from "../dom.js";

export class Notice {
  constructor() { this.element = el("p", { className: "notice", role: "status", id: "config-message" }); }

  say(text, isError = false) {
    this.element.textContent = text;
    this.element.className = isError ? "notice error" : "notice";
  }
}

export class ResourcePanel {
  // path: the resource's collection URL; render(answer) draws what GET path returned.
  constructor(notice, path) {
    this.notice = notice;
    this.path = path;
  }

  async load() {
    try { this.render(await api(this.path)); } catch (err) { this.notice.say(err.message, true); }
  }

  // `done`: the notice to show once the action succeeded.
  async run(action, done) {
    try {
      await action();
      if (done) this.notice.say(done);
      await this.load();
    } catch (err) { this.notice.say(err.message, true); }
  }
}

export function toggleButton(on, onclick) {
  return el("button", { className: "toggle", "aria-pressed": on ? "true" : "false", onclick }, on ? "on" : "off");
}

// A destructive action, asked for first.
export function confirmButton(label, question, action, className = "danger") {
  return el("button", { className, onclick: () => { if (confirm(question)) action(); } }, label);
}
