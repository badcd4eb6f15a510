// The one state the views read: who is logged in, the live connection, the hosts and the pending
// and firing alerts. It changes only through its methods, each of which tells its topic's
// listeners; a view listens while it is shown (View.listen) and renders from here. Topics:
//   "hosts"       the host list was (re)loaded
//   "host"        (name) one host's numbers moved
//   "alerts"      (transition | null) one alert changed state, or all were reloaded
//   "connection"  ({state, detail}) the live connection's state, for the header

import { ActiveAlerts } from "./alerts.js";
import { Hosts } from "./hosts.js";

export class Store {
  constructor() {
    this.user = null;
    this.connection = { state: "offline", detail: "" };
    this.hosts = new Hosts();
    this.alerts = new ActiveAlerts();
    this.listeners = new Map();
  }

  // Returns the function that removes this listener.
  on(topic, listener) {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  emit(topic, detail) {
    for (const listener of this.listeners.get(topic) || []) listener(detail);
  }

  setUser(user) { this.user = user; }

  setConnection(state, detail = "") {
    this.connection = { state, detail };
    this.emit("connection", this.connection);
  }

  // GET /api/hosts's answer, and {name: samples} of the recent window for some of them.
  mergeHosts(answer, recentByHost) {
    this.hosts.merge(answer.hosts, answer.stale_after_seconds, recentByHost);
    this.emit("hosts");
  }

  // A live `samples` frame.
  applyFrame(frame) {
    this.hosts.applyFrame(frame);
    this.emit("host", frame.host);
  }

  replaceAlerts(alerts) {
    this.alerts.replace(alerts);
    this.emit("alerts", null);
  }

  // A live `alert` message.
  applyAlert(transition) {
    this.alerts.apply(transition);
    this.emit("alerts", transition);
  }

  // A host as the fleet shows it: status, numbers and alert counts.
  hostSummary(name, now = Date.now()) {
    return {
      ...this.hosts.summary(name, now),
      firing: this.alerts.count(name, "firing"),
      pending: this.alerts.count(name, "pending"),
    };
  }
}
