// What configuration panels share: the page's notice line, load, act then reload, buttons.

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
  // A panel has render(answer of GET path) and a `section`.
  constructor(notice, path) {
    this.notice = notice;
    this.path = path;
  }

  async load() {
    try { this.render(await api(this.path)); } catch (err) { this.notice.say(err.message, true); }
  }

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

export function confirmButton(label, question, action, className = "danger") {
  return el("button", { className, onclick: () => { if (confirm(question)) action(); } }, label);
}
