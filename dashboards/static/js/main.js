// Start-up: store, route table, live connection, log-in/out, theme. REST and /ws → store → view.

import { api, backendUrl, onUnauthorized, setBackend } from "./api.js";
import { LiveConnection } from "./live/connection.js";
import { dispatcher, messageHandlers } from "./live/messages.js";
import { Router, View } from "./router.js";
import { Store } from "./state/store.js";
import { loadAlerts, loadHosts } from "./state/sync.js";

const $ = (id) => document.getElementById(id);
const BADGES = { live: "● live", connecting: "○ connecting", reconnecting: "◌ reconnecting", offline: "○ offline" };

function createApp() {
  const store = new Store();
  // A view's modules load when it is first shown: index.html preloads only fleet's and host's.
  const router = new Router({
    fleet: { load: async () => new (await import("./views/fleet.js")).FleetView($("view-fleet"), store) },
    host: { load: async () => new (await import("./views/host.js")).HostView($("view-host"), store) },
    alerts: { load: async () => new (await import("./views/alerts.js")).AlertsView($("view-alerts"), store) },
    config: { load: async () => new (await import("./views/config.js")).ConfigView($("view-config")), role: "admin", otherwise: "denied" },
    perf: { load: async () => new (await import("./views/perf.js")).PerfView($("view-perf")) },
    denied: { load: async () => new View($("view-denied")) },
  }, "fleet");
  // One connection for the app's life (views may hold it), started per session.
  const live = new LiveConnection({
    onMessage: (text) => dispatch(text),
    onState: (state, detail) => store.setConnection(state, detail),
    onResume: () => {
      loadAlerts(store).catch(() => {});
      if (router.active) router.active.onResume();
    },
  });
  const dispatch = dispatcher(messageHandlers({ store, router, connection: live }));

  // Each view subscribes to what it shows: the fleet to the summaries, the host view to its host's
  // frames (it asks again when its host changes).
  store.on("live-request", (request) => live.subscribe({ v: 2, ...request }));

  function route() {
    if (!store.user) return;
    router.go(location.hash, store.user)
      .then(() => { if (router.active) store.want(router.active.liveRequest()); })
      .catch((err) => console.error("could not open the view:", err));
  }

  store.on("connection", ({ state, detail }) => {
    const badge = $("connection");
    badge.dataset.state = state;
    badge.textContent = BADGES[state] || state;
    badge.title = detail || state;
    // A socket refused at the handshake may mean the session expired: ask, and a 401 logs out.
    if (state === "reconnecting" && store.user) api("/api/auth/me").catch(() => {});
  });

  function showLogin(message = "") {
    store.setUser(null);
    live.stop();
    router.leave();
    document.body.dataset.auth = "out";
    $("login-error").textContent = message;
    $("login").hidden = false;
    $("app").hidden = true;
    $("login-user").focus();
  }

  async function startSession(user) {
    store.setUser(user);
    document.body.dataset.auth = "in";
    document.body.dataset.role = user.role;
    $("login").hidden = true;
    $("app").hidden = false;
    $("whoami").textContent = `${user.name} (${user.role})`;
    $("nav-config").hidden = user.role !== "admin";
    live.startOnce(liveUrl());
    // The view first: the host view loads its own data, so a direct link renders without waiting.
    route();
    await Promise.all([loadHosts(store), loadAlerts(store)]).catch(() => { /* each view shows its own errors */ });
    router.prefetch();
  }

  async function login(event) {
    event.preventDefault();
    const form = event.target;
    $("login-error").textContent = "";
    try {
      const answer = await api("/api/auth/login", { method: "POST", body: { username: form.username.value, password: form.password.value } });
      form.password.value = "";
      await startSession(answer.user);
    } catch (err) {
      $("login-error").textContent = err.status === 401 ? "Wrong user name or password." : err.message;
    }
  }

  async function logout() {
    try { await api("/api/auth/logout", { method: "POST" }); } catch { /* the cookie may be gone already */ }
    showLogin("Logged out.");
  }

  function toggleTheme() {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    localStorage.setItem("hostpulse-theme", next);
    applyTheme(next);
    if (router.active) router.active.retheme();
  }

  async function boot() {
    applyTheme(localStorage.getItem("hostpulse-theme"));
    $("theme").addEventListener("click", toggleTheme);
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    addEventListener("hashchange", route);
    const config = await (await fetch("/config.json")).json();
    setBackend(config.backend_url);
    onUnauthorized(() => { if (store.user) showLogin("Your session has ended; please log in again."); });
    // The socket opens while the session is checked (one round trip less before live data);
    // without a session it is refused, and showLogin() stops it.
    live.startOnce(liveUrl());
    try {
      await startSession(await api("/api/auth/me"));
    } catch {
      showLogin();
    }
  }

  return { boot };
}

function liveUrl() {
  return `${backendUrl().replace(/^http/, "ws")}/ws`;
}

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

createApp().boot();
