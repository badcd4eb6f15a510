// What the views read, changed only by its methods; each emits one topic (dashboards/README.md).

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

  // → the function that removes the listener
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

  mergeHosts(answer, recentByHost) {
    this.hosts.merge(answer.hosts, answer.stale_after_seconds, recentByHost);
    this.emit("hosts");
  }

  applyFrame(frame) {
    this.hosts.applyFrame(frame);
    this.emit("host", frame.host);
  }

  replaceAlerts(alerts) {
    this.alerts.replace(alerts);
    this.emit("alerts", null);
  }

  applyAlert(transition) {
    this.alerts.apply(transition);
    this.emit("alerts", transition);
  }

  hostSummary(name, now = Date.now()) {
    return {
      ...this.hosts.summary(name, now),
      firing: this.alerts.count(name, "firing"),
      pending: this.alerts.count(name, "pending"),
    };
  }
}
