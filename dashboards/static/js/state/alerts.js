// The pending and firing alerts, kept current by live `alert` transitions.

function keyOf(rule, labels) {
  return rule + JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

export class ActiveAlerts {
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
