// The backend's REST API, called cross-origin with the session cookie. A 401 anywhere means the
// session is gone: every listener (main.js) then returns to the login screen.

let backend = "";
const unauthorizedListeners = [];

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function setBackend(url) { backend = url.replace(/\/$/, ""); }
export function backendUrl() { return backend; }
export function onUnauthorized(listener) { unauthorizedListeners.push(listener); }

function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  return detail == null ? "" : JSON.stringify(detail);
}

export async function api(path, { method = "GET", body, query } = {}) {
  let url = backend + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value == null || value === "") continue;
      for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, credentials: "include", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (response.status === 401 && path !== "/api/auth/login") {
    for (const listener of unauthorizedListeners) listener();
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = describe((await response.json()).detail) || detail; } catch { /* not JSON */ }
    throw new ApiError(response.status, `${response.status}: ${detail}`);
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}
