// What the router asks of a view; every method has a do-nothing default. A view may also have
// update(arg): the route changed its arg (another host) while the view stays shown.

export class View {
  // root: the view's <section>; store: what it renders from (state/store.js), if anything.
  constructor(root, store = null) {
    this.root = root;
    this.store = store;
    this.releases = [];
  }

  show(_arg) {}
  hide() {}
  // A live `samples` frame, while this view is shown (the store has it already).
  onFrame(_frame) {}
  // The live connection is back after a gap: refill what the view shows.
  onResume() {}
  // The theme changed: redraw what takes its colours when drawn.
  retheme() {}

  // Listens to a store topic until the view is hidden.
  listen(topic, listener) { this.releases.push(this.store.on(topic, listener)); }

  // Calls `tick` every `ms` until the view is hidden.
  every(ms, tick) {
    const timer = setInterval(tick, ms);
    this.releases.push(() => clearInterval(timer));
  }

  // The router calls this after hide().
  release() {
    for (const release of this.releases.splice(0)) release();
  }
}
