// Every message the backend sends on /ws, handled by its `type` in this one table: data goes into
// the store (a `samples` frame also to the view shown), the connection's own replies back to it.
// A type the table does not know is ignored, so a newer backend may add one.

export function messageHandlers({ store, router, connection }) {
  return {
    samples: (frame) => {
      store.applyFrame(frame);
      if (router.active) router.active.onFrame(frame);
    },
    alert: (transition) => store.applyAlert(transition),
    subscribed: () => connection.confirm(),
    pong: () => {}, // the keep-alive got through
    error: (message) => console.warn(`live: the backend refused a message: ${message.detail}`),
  };
}

// A message's text → its handler. Each is measured for the benchmark as "hostpulse:live-update":
// uPlot redraws in a microtask queued during the handler, so a microtask queued after it ends
// once the redraw is done.
export function dispatcher(handlers) {
  return (text) => {
    const started = performance.now();
    let message;
    try { message = JSON.parse(text); } catch { return; }
    const type = message && message.type;
    if (!Object.hasOwn(handlers, type)) return;
    handlers[type](message);
    queueMicrotask(() => queueMicrotask(() => {
      performance.measure("hostpulse:live-update", { start: started, end: performance.now() });
      if (performance.getEntriesByName("hostpulse:live-update").length > 500) performance.clearMeasures("hostpulse:live-update");
    }));
  };
}
