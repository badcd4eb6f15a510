// Start-up, login/logout, the hash router (#/fleet, #/host/NAME, #/alerts, #/config, #/perf),
// the theme toggle, and the live connection feeding every view.

import { AlertStore, AlertsView } from "./alerts.js";
import { api, backendUrl, onUnauthorized, setBackend } from "./api.js";
import { ConfigView } from "./config.js";
import { Fleet } from "./fleet.js";
import { HostView } from "./host.js";
import { LiveConnection } from "./live.js";
import { PerfView } from "./perf.js";

const $ = (id) => document.getElementById(id);

const app = {
  user: null,
  live: null,
  alerts: new AlertStore(),
  current: null,
  navigate(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  hostNames() { return fleet.names(); },
};
const fleet = new Fleet($("view-fleet"), app);
const hostView = new HostView($("view-host"), app);
const alertsView = new AlertsView($("view-alerts"), app.alerts);
const configView = new ConfigView($("view-config"));
const perfView = new PerfView($("view-perf"));

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

function toggleTheme() {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === "dark"
    : matchMedia("(prefers-color-scheme: dark)").matches;
  const next = dark ? "light" : "dark";
  localStorage.setItem("hostpulse-theme", next);
  applyTheme(next);
  hostView.retheme();
  if (app.current === "perf") { perfView.hide(); perfView.show(); }
}

function setConnection(state, detail) {
  const badge = $("connection");
  badge.dataset.state = state;
  badge.textContent = { live: "● live", connecting: "○ connecting", reconnecting: "◌ reconnecting", offline: "○ offline" }[state] || state;
  badge.title = detail || state;
  // A socket refused at the handshake may mean the session expired: ask, and a 401 logs out.
  if (state === "reconnecting" && app.user) api("/api/auth/me").catch(() => {});
}

function showLogin(message = "") {
  app.user = null;
  if (app.live) app.live.stop();
  app.live = null;
  leave();
  document.body.dataset.auth = "out";
  $("login-error").textContent = message;
  $("login").hidden = false;
  $("app").hidden = true;
  $("login-user").focus();
}

async function startSession(user) {
  app.user = user;
  document.body.dataset.auth = "in";
  document.body.dataset.role = user.role;
  $("login").hidden = true;
  $("app").hidden = false;
  $("whoami").textContent = `${user.name} (${user.role})`;
  $("nav-config").hidden = user.role !== "admin";
  const wsUrl = `${backendUrl().replace(/^http/, "ws")}/ws`;
  app.live = new LiveConnection(wsUrl, {
    onSamples: (frame) => { fleet.onFrame(frame); hostView.onFrame(frame); },
    onAlert: (message) => { app.alerts.apply(message); alertsView.onAlert(message); },
    onState: setConnection,
    onOpen: () => { if (app.reconnected) { hostView.refresh(); app.alerts.load().catch(() => {}); } app.reconnected = true; },
  });
  app.reconnected = false;
  app.live.start();
  // The view first: the host view loads its own data, so a direct link renders without waiting.
  route();
  await Promise.all([
    fleet.load().then(() => { if (app.current === "fleet") fleet.render(); hostView.updateHostOptions(); }),
    app.alerts.load(),
  ]).catch(() => { /* each view shows its own errors */ });
}

function leave() {
  if (app.current === "host") hostView.hide();
  if (app.current === "perf") perfView.hide();
  fleet.visible = false;
  app.current = null;
}

function route() {
  if (!app.user) return;
  const [, view = "fleet", arg] = location.hash.split("/");
  const name = view === "config" && app.user.role !== "admin" ? "denied" : view;
  const views = { fleet: 1, host: 1, alerts: 1, config: 1, perf: 1, denied: 1 };
  const target = views[name] ? name : "fleet";
  if (app.current !== target || target !== "host") leave();
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== `view-${target}`;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === target);
  app.current = target;
  if (target === "fleet") { fleet.visible = true; fleet.render(); }
  else if (target === "host") {
    const host = decodeURIComponent(arg || "") || fleet.names()[0];
    if (host) hostView.show(host);
    else $("view-host").textContent = "No host has reported yet.";
  } else if (target === "alerts") alertsView.show();
  else if (target === "config") configView.show();
  else if (target === "perf") perfView.show();
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

async function boot() {
  applyTheme(localStorage.getItem("hostpulse-theme"));
  $("theme").addEventListener("click", toggleTheme);
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  addEventListener("hashchange", route);
  // Ages and up/stale on tiles move with the clock, not only with frames.
  setInterval(() => { if (app.current === "fleet") fleet.render(); }, 5000);
  app.alerts.onChange(() => {
    if (app.current === "fleet") fleet.render();
    hostView.renderAlerts();
    alertsView.renderCurrent();
  });
  const config = await (await fetch("/config.json")).json();
  setBackend(config.backend_url);
  onUnauthorized(() => { if (app.user) showLogin("Your session has ended; please log in again."); });
  try {
    await startSession(await api("/api/auth/me"));
  } catch {
    showLogin();
  }
}

boot();
