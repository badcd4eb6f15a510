// Every host: when it last reported and its last minute of samples (the fleet's numbers).

import { HostTimeline } from "../metrics/timeline.js";

const RECENT_MS = 60000;

export class Hosts {
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
