// REST snapshots into the store, at log-in and after the live connection comes back.

import { api } from "../api.js";

// The host list (names, last seen); the fleet's numbers come live, as summaries.
export async function loadHosts(store) {
  store.mergeHosts(await api("/api/hosts"), new Map());
}

export async function loadAlerts(store) {
  store.replaceAlerts((await api("/api/alerts")).alerts);
}
