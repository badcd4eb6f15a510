// The live WebSocket: subscription on every socket, pings, and backoff with jitter (so a restarted
// backend is not hit by every tab at once).

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const PING_EVERY_MS = 25000;

export class LiveConnection {
  constructor({ onMessage, onState, onResume }) {
    this.url = null;
    this.handlers = { onMessage, onState, onResume };
    this.delay = MIN_DELAY_MS;
    this.socket = null;
    this.subscription = null;
    this.timer = null;
    this.pinger = null;
    this.stopped = false;
    this.running = false;
    this.gap = false;
  }

  // A new session: nothing to resume from the last one.
  start(url) {
    this.url = url;
    this.running = true;
    this.stopped = false;
    this.gap = false;
    this.delay = MIN_DELAY_MS;
    this.open();
  }

  // Started already (e.g. while the session was being checked): keep that socket.
  startOnce(url) {
    if (!this.running || this.url !== url) this.start(url);
  }

  stop() {
    this.running = false;
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.socket) this.socket.close(1000, "logged out");
    this.socket = null;
    this.setState("offline");
  }

  // e.g. {hosts: "*"}; sent again on every new socket
  subscribe(request) {
    this.subscription = request;
    this.sendSubscription();
  }

  sendSubscription() {
    if (this.subscription && this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "subscribe", ...this.subscription }));
    }
  }

  // `subscribed`: resume only after a dropped socket, not after a re-subscription
  confirm() {
    this.delay = MIN_DELAY_MS;
    this.setState("live");
    clearInterval(this.pinger);
    this.pinger = setInterval(() => this.ping(), PING_EVERY_MS);
    if (this.gap) {
      this.gap = false;
      if (this.handlers.onResume) this.handlers.onResume();
    }
  }

  setState(state, detail = "") {
    this.state = state;
    if (this.handlers.onState) this.handlers.onState(state, detail);
  }

  open() {
    this.setState("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => this.sendSubscription());
    // Not from a socket of an earlier session, closing late.
    socket.addEventListener("message", (event) => { if (this.socket === socket) this.handlers.onMessage(event.data); });
    socket.addEventListener("close", (event) => {
      clearInterval(this.pinger);
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      this.gap = true;
      this.retry(event.code);
    });
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
