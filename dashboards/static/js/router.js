// `#/<name>/<arg>` → a view of the route table: hide (and release) the shown one, show the new.

export class Router {
  // routes: {name: {view, role?, otherwise?}}
  constructor(routes, fallback) {
    this.routes = routes;
    this.fallback = fallback;
    this.active = null;
  }

  resolve(hash, user) {
    const [, first, rawArg] = hash.split("/");
    let name = Object.hasOwn(this.routes, first || "") ? first : this.fallback;
    const { role, otherwise } = this.routes[name];
    if (role && user.role !== role) name = otherwise;
    let arg = rawArg || "";
    try { arg = decodeURIComponent(arg); } catch { /* taken as it is */ }
    return { name, arg };
  }

  go(hash, user) {
    const { name, arg } = this.resolve(hash, user);
    const view = this.routes[name].view;
    if (view === this.active && view.update) {
      view.update(arg);
      return;
    }
    this.leave();
    for (const route of Object.values(this.routes)) route.view.root.hidden = route.view !== view;
    for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === name);
    this.active = view;
    view.show(arg);
  }

  leave() {
    if (!this.active) return;
    this.active.hide();
    this.active.release();
    this.active = null;
  }
}
