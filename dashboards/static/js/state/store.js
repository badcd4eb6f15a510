// What the views read, changed only by its methods; each emits one topic (dashboards/README.md).

import { HostTimeline } from "../metrics/timeline.js";

const RECENT_MS = 60000;

// Every host: when it last reported and its last minute of samples (the fleet's numbers).
class Hosts {
  constructor() {
    this.byName = new Map();
    this.staleAfterMs = 30000;
  }

  entry(name) {
    let host = this.byName.get(name);
    if (!host) {
      host = { lastSeen: 0, timeline: new HostTimeline(RECENT_MS) };
      this.byName.set(name, host);
    }
    return host;
  }

  names() { return [...this.byName.keys()].sort(); }

  // Last seen only moves forward: a frame may have come while the list loaded.
  merge(hosts, staleAfterSeconds, recentByHost) {
    this.staleAfterMs = staleAfterSeconds * 1000;
    for (const h of hosts) {
      const host = this.entry(h.name);
      host.lastSeen = Math.max(host.lastSeen, Date.parse(h.last_seen) || 0);
    }
    const cutoff = Date.now() - RECENT_MS;
    for (const [name, samples] of recentByHost) {
      this.entry(name).timeline.add(samples.filter((s) => s.time_ms >= cutoff));
    }
  }

  applyFrame(frame) {
    const host = this.entry(frame.host);
    host.timeline.add(frame.samples);
    host.lastSeen = Math.max(host.lastSeen, frame.accepted_ms || Date.now());
  }

  summary(name, now) {
    const host = this.entry(name);
    return {
      name,
      lastSeen: host.lastSeen,
      status: now - host.lastSeen > this.staleAfterMs ? "stale" : "up",
      cpu: host.timeline.latest("cpu"),
      memRatio: host.timeline.latest("memRatio"),
      memUsed: host.timeline.latest("memUsed"),
    };
  }
}

// Every host's latest fleet summary (`summaries` messages): a full one replaces them all.
class Summaries {
  constructor() { this.byName = new Map(); }

  apply(message) {
    if (message.full) this.byName.clear();
    for (const summary of message.hosts || []) {
      if (summary && typeof summary.host === "string") this.byName.set(summary.host, summary);
    }
  }
}

// The pending and firing alerts, kept current by live `alert` transitions.

function keyOf(rule, labels) {
  return rule + JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

class ActiveAlerts {
  constructor() { this.byKey = new Map(); }

  replace(alerts) {
    this.byKey.clear();
    for (const a of alerts) {
      this.byKey.set(keyOf(a.rule, a.labels), {
        rule: a.rule, labels: a.labels, host: a.labels.host || "", state: a.state,
        value: a.value, since: a.state === "firing" ? (a.fired_at || a.active_since) : a.active_since,
      });
    }
  }

  apply(transition) {
    const labels = transition.labels || {};
    const key = keyOf(transition.rule, labels);
    if (transition.to === "pending" || transition.to === "firing") {
      this.byKey.set(key, {
        rule: transition.rule, labels, host: transition.host, state: transition.to,
        value: transition.value, since: transition.time,
      });
    } else this.byKey.delete(key);
  }

  all() { return [...this.byKey.values()]; }

  forHost(host) { return this.all().filter((a) => a.host === host); }

  count(host, state) { return this.forHost(host).filter((a) => a.state === state).length; }
}

export class Store {
  constructor() {
    this.user = null;
    this.connection = { state: "offline", detail: "" };
    this.hosts = new Hosts();
    this.alerts = new ActiveAlerts();
    this.summaries = new Summaries();
    // What the shown view wants from /ws: {summary, hosts}.
    this.liveRequest = null;
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

  // A `summaries` message; listeners hear it (`full`, and the hosts it changed).
  applySummaries(message) {
    this.summaries.apply(message);
    this.emit("summaries", message);
  }

  // What the view shown wants live: the fleet's summaries and/or some hosts' full frames.
  // Listeners (the live connection) hear it only when it changes.
  want({ summary = false, hosts = [] } = {}) {
    const request = { summary, hosts: [...hosts].sort() };
    if (JSON.stringify(request) === JSON.stringify(this.liveRequest)) return;
    this.liveRequest = request;
    this.emit("live-request", request);
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
