// `#/<name>/<arg>` → a view of the route table, loaded on first use: hide (and release) the shown
// view, show the new one. A view's modules load only when it is first shown (or prefetched).

// What the router asks of a view, doing nothing by default. Optional: update(arg), a new arg.
export class View {
  constructor(root, store = null) {
    this.root = root;
    this.store = store;
    this.releases = [];
  }

  show(_arg) {}
  hide() {}
  onFrame(_frame) {}
  // The live connection is back after a gap.
  onResume() {}
  retheme() {}
  // What this view wants from /ws (store.want): by default neither summaries nor frames.
  liveRequest() { return { summary: false, hosts: [] }; }

  // listen() and every() last until the view is hidden.
  listen(topic, listener) { this.releases.push(this.store.on(topic, listener)); }

  every(ms, tick) {
    const timer = setInterval(tick, ms);
    this.releases.push(() => clearInterval(timer));
  }

  release() {
    for (const release of this.releases.splice(0)) release();
  }
}

export class Router {
  // routes: {name: {load: () => Promise<View>, role?, otherwise?}}
  constructor(routes, fallback) {
    this.routes = routes;
    this.fallback = fallback;
    this.views = new Map();
    this.active = null;
    this.navigation = 0;
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

  // A view that failed to load (its module could not be fetched) is tried again next time.
  view(name) {
    if (!this.views.has(name)) {
      const loading = this.routes[name].load();
      loading.catch(() => this.views.delete(name));
      this.views.set(name, loading);
    }
    return this.views.get(name);
  }

  prefetch() {
    for (const name of Object.keys(this.routes)) this.view(name).catch(() => {});
  }

  async go(hash, user) {
    const { name, arg } = this.resolve(hash, user);
    const navigation = ++this.navigation;
    const view = await this.view(name);
    if (navigation !== this.navigation) return; // a later go() or leave() won
    if (view === this.active && view.update) {
      view.update(arg);
      return;
    }
    this.leave();
    for (const section of document.querySelectorAll("main > section")) section.hidden = section !== view.root;
    for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === name);
    this.active = view;
    view.show(arg);
  }

  leave() {
    this.navigation++;
    if (!this.active) return;
    this.active.hide();
    this.active.release();
    this.active = null;
  }
}
