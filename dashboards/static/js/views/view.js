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
