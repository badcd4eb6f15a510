// The live WebSocket: subscribes to every host, hands frames to listeners, reconnects with
// exponential backoff (and jitter, so a restarted backend is not hit by every tab at once),
// and shows its state in the header badge.

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const PING_EVERY_MS = 25000;

export class LiveConnection {
  constructor(url, { onSamples, onAlert, onState, onOpen }) {
    this.url = url;
    this.handlers = { onSamples, onAlert, onState, onOpen };
    this.delay = MIN_DELAY_MS;
    this.socket = null;
    this.timer = null;
    this.pinger = null;
    this.stopped = false;
    this.frames = 0;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.socket) this.socket.close(1000, "logged out");
    this.socket = null;
    this.setState("offline");
  }

  setState(state, detail = "") {
    this.state = state;
    if (this.handlers.onState) this.handlers.onState(state, detail);
  }

  open() {
    this.setState("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "subscribe", hosts: "*" }));
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      clearInterval(this.pinger);
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      this.retry(event.code);
    });
  }

  receive(text) {
    const started = performance.now();
    let message;
    try { message = JSON.parse(text); } catch { return; }
    if (message.type === "samples") {
      this.frames++;
      if (this.handlers.onSamples) this.handlers.onSamples(message);
      // Main-thread cost of one live update, for the benchmark: uPlot redraws in a microtask
      // queued during the handler, so a microtask queued after it ends once the redraw is done.
      queueMicrotask(() => queueMicrotask(() => {
        performance.measure("hostpulse:live-update", { start: started, end: performance.now() });
        if (performance.getEntriesByName("hostpulse:live-update").length > 500) performance.clearMeasures("hostpulse:live-update");
      }));
    } else if (message.type === "alert") {
      if (this.handlers.onAlert) this.handlers.onAlert(message);
    } else if (message.type === "subscribed") {
      this.delay = MIN_DELAY_MS;
      this.setState("live");
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.ping(), PING_EVERY_MS);
      // After a reconnect the gap is refilled from the recent window by the listener.
      if (this.handlers.onOpen) this.handlers.onOpen();
    }
  }

  ping() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send('{"type":"ping"}');
    }
  }

  retry(code) {
    const wait = Math.round(this.delay * (0.75 + Math.random() * 0.5));
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    this.setState("reconnecting", `code ${code}, retry in ${Math.ceil(wait / 1000)} s`);
    this.timer = setTimeout(() => { if (!this.stopped) this.open(); }, wait);
  }
}
