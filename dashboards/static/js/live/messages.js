// Every /ws message by its `type`, in one table; an unknown type is dropped.

export function messageHandlers({ store, router, connection }) {
  return {
    samples: (frame) => {
      store.applyFrame(frame);
      if (router.active) router.active.onFrame(frame);
    },
    summaries: (message) => store.applySummaries(message),
    alert: (transition) => store.applyAlert(transition),
    subscribed: () => connection.confirm(),
    pong: () => {},
    error: (message) => console.warn(`live: the backend refused a message: ${message.detail}`),
  };
}

// Timed for the bench: uPlot redraws in a microtask queued by the handler, so one queued after ends it.
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
