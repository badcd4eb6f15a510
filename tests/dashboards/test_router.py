"""The route table (static/js/router.js) in the real browser: which view a hash shows, what the
shown view is told, that a hidden view stops listening to the store, and views loaded on first
use (a navigation overtaken while its view loads, a view that failed to load)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

# Each step: go to `hash` as a user with `role`, then the store announces a new host list.
STEPS = """async (steps) => {
  const { Router, View } = await import("/static/js/router.js");
  const { Store } = await import("/static/js/state/store.js");
  const store = new Store();
  const main = document.body.appendChild(document.createElement("main"));
  const log = [];
  const section = () => main.appendChild(document.createElement("section"));
  class Logged extends View {
    constructor(name) { super(section(), store); this.name = name; }
    show(arg) {
      log.push(`show ${this.name}(${arg})`);
      this.listen("hosts", () => log.push(`${this.name} heard`));
    }
    hide() { log.push(`hide ${this.name}`); }
  }
  class Updating extends Logged { update(arg) { log.push(`update ${this.name}(${arg})`); } }
  const loaded = (view) => async () => { log.push(`load ${view.name}`); return view; };
  const views = {
    fleet: new Logged("fleet"), host: new Updating("host"),
    config: new Logged("config"), denied: new Logged("denied"),
  };
  const routes = {
    fleet: { load: loaded(views.fleet) },
    host: { load: loaded(views.host) },
    config: { load: loaded(views.config), role: "admin", otherwise: "denied" },
    denied: { load: loaded(views.denied) },
  };
  const router = new Router(routes, "fleet");
  const out = [];
  for (const [hash, role] of steps) {
    await router.go(hash, { role });
    store.emit("hosts");
    const shown = Object.keys(views).filter((name) => !views[name].root.hidden);
    out.push([...log.splice(0), `shown ${shown}`]);
  }
  router.leave();
  store.emit("hosts");
  out.push(log);
  return out;
}"""

RACES = """async () => {
  const { Router, View } = await import("/static/js/router.js");
  const log = [];
  const view = (name) => new (class extends View {
    show() { log.push(`show ${name}`); }
  })(document.createElement("section"));
  let finishSlow;
  let attempts = 0;
  const flaky = async () => {
    if (++attempts === 1) throw new Error("fetch failed");
    return view("flaky");
  };
  const router = new Router({
    slow: { load: () => new Promise((resolve) => { finishSlow = () => resolve(view("slow")); }) },
    fast: { load: async () => view("fast") },
    flaky: { load: flaky },
  }, "fast");
  const user = { role: "viewer" };
  const slow = router.go("#/slow", user);
  await router.go("#/fast", user);
  finishSlow();
  await slow;  // loaded after the user moved on: not shown
  const failed = await router.go("#/flaky", user).then(() => "shown", (err) => err.message);
  await router.go("#/flaky", user);
  const loggedOut = router.go("#/slow", user);  // already loaded, but the user leaves meanwhile
  router.leave();
  await loggedOut;
  return { log, failed, attempts, active: router.active };
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
        ["load host", "show host(web/1)", "host heard", "shown host"],
        # Same view, another arg: told, not rebuilt, still listening; loaded once.
        ["update host(web-2)", "host heard", "shown host"],
        # A route for admins shows its stand-in to others.
        ["load denied", "hide host", "show denied()", "denied heard", "shown denied"],
        ["load config", "hide denied", "show config()", "config heard", "shown config"],
        ["load fleet", "hide config", "show fleet()", "fleet heard", "shown fleet"],
        # Same view without update(): hidden and shown again, listening once, not twice.
        ["hide fleet", "show fleet()", "fleet heard", "shown fleet"],
        # An arg that is not valid percent-encoding is taken as it is.
        ["hide fleet", "show host(%E0)", "host heard", "shown host"],
        # Logged out: nothing shown listens any more.
        ["hide host"],
    ]


async def test_only_the_last_navigation_is_shown_and_a_failed_load_is_retried(
    module_page: Page,
) -> None:
    result: dict[str, Any] = await module_page.evaluate(RACES)
    assert result == {
        "log": ["show fast", "show flaky"],
        "failed": "fetch failed",
        "attempts": 2,
        "active": None,
    }
