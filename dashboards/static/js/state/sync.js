// REST snapshots into the store, at log-in and after the live connection comes back.

import { api } from "../api.js";

// Hosts whose tiles get numbers before their next frame.
const SEEDED_HOSTS = 24;

export async function loadHosts(store) {
  const answer = await api("/api/hosts");
  const recent = new Map();
  await Promise.all(answer.hosts.slice(0, SEEDED_HOSTS).map(async (h) => {
    try {
      recent.set(h.name, (await api("/api/metrics/recent", { query: { host: h.name } })).samples);
    } catch { /* the tile shows dashes until the host's next frame */ }
  }));
  store.mergeHosts(answer, recent);
}

export async function loadAlerts(store) {
  store.replaceAlerts((await api("/api/alerts")).alerts);
}
