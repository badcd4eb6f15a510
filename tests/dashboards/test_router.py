"""The route table (static/js/router.js) in the real browser: which view a hash shows, what the
shown view is told, and that a hidden view stops listening to the store."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

# Each step: go to `hash` as a user with `role`, then the store announces a new host list.
STEPS = """async (steps) => {
  const { Router } = await import("/static/js/router.js");
  const { View } = await import("/static/js/views/view.js");
  const { Store } = await import("/static/js/state/store.js");
  const store = new Store();
  const log = [];
  class Logged extends View {
    constructor(name) { super(document.createElement("section"), store); this.name = name; }
    show(arg) {
      log.push(`show ${this.name}(${arg})`);
      this.listen("hosts", () => log.push(`${this.name} heard`));
    }
    hide() { log.push(`hide ${this.name}`); }
  }
  class Updating extends Logged { update(arg) { log.push(`update ${this.name}(${arg})`); } }
  const routes = {
    fleet: { view: new Logged("fleet") },
    host: { view: new Updating("host") },
    config: { view: new Logged("config"), role: "admin", otherwise: "denied" },
    denied: { view: new Logged("denied") },
  };
  const router = new Router(routes, "fleet");
  const out = [];
  for (const [hash, role] of steps) {
    router.go(hash, { role });
    store.emit("hosts");
    const shown = Object.keys(routes).filter((name) => !routes[name].view.root.hidden);
    out.push([...log.splice(0), `shown ${shown}`]);
  }
  router.leave();
  store.emit("hosts");
  out.push(log);
  return out;
}"""


async def test_hashes_show_views_and_hidden_views_stop_listening(module_page: Page) -> None:
    steps = [
        ["#/host/web%2F1", "viewer"],
        ["#/host/web-2", "viewer"],
        ["#/config", "viewer"],
        ["#/config", "admin"],
        ["#/no-such-view", "admin"],
        ["", "admin"],
        ["#/host/%E0", "admin"],
    ]
    log: list[list[Any]] = await module_page.evaluate(STEPS, steps)
    assert log == [
        ["show host(web/1)", "host heard", "shown host"],
        # Same view, another arg: told, not rebuilt, still listening.
        ["update host(web-2)", "host heard", "shown host"],
        # A route for admins shows its stand-in to others.
        ["hide host", "show denied()", "denied heard", "shown denied"],
        ["hide denied", "show config()", "config heard", "shown config"],
        ["hide config", "show fleet()", "fleet heard", "shown fleet"],
        # Same view without update(): hidden and shown again, listening once, not twice.
        ["hide fleet", "show fleet()", "fleet heard", "shown fleet"],
        # An arg that is not valid percent-encoding is taken as it is.
        ["hide fleet", "show host(%E0)", "host heard", "shown host"],
        # Logged out: nothing shown listens any more.
        ["hide host"],
    ]
