"""Every endpoint of the app times every kind of caller gives the expected status.

The rule table below must name every route `app.routes` has: a new endpoint without a rule (or a
rule for a route that is gone) fails `test_every_route_has_a_rule`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from pydantic import SecretStr
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from backend.app import create_app
from backend.auth.agent_tokens import create_token, revoke_token
from backend.settings import BackendSettings
from tests.backend.auth.support import anonymous, expire_sessions, make_user, session_for
from tests.backend.running import RunningBackend, running_services, serve, service_settings

OPEN, READ, ADMIN, INGEST = "open", "read", "admin", "ingest"

# (method, path) -> who may call it. WS = the WebSocket route.
RULES: dict[tuple[str, str], str] = {
    # Open on purpose: probes, Prometheus scraping, API docs, and logging in/out.
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("GET", "/metrics"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/oauth2-redirect"): OPEN,
    ("GET", "/redoc"): OPEN,
    ("POST", "/api/auth/login"): OPEN,
    ("POST", "/api/auth/logout"): OPEN,
    # Any logged-in user.
    ("GET", "/api/auth/me"): READ,
    ("POST", "/api/auth/password"): READ,
    ("GET", "/api/hosts"): READ,
    ("GET", "/api/metrics/recent"): READ,
    ("GET", "/api/metrics/history"): READ,
    ("GET", "/api/alerts"): READ,
    ("GET", "/api/alerts/history"): READ,
    ("GET", "/api/alerts/mutes"): READ,
    ("WS", "/ws"): READ,
    # Admins only: users, agent tokens, alert rules, silences, webhooks.
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("PATCH", "/api/users/{user_id}"): ADMIN,
    ("DELETE", "/api/users/{user_id}"): ADMIN,
    ("GET", "/api/agent-tokens"): ADMIN,
    ("GET", "/api/settings/retention"): ADMIN,
    ("POST", "/api/agent-tokens"): ADMIN,
    ("DELETE", "/api/agent-tokens/{token_id}"): ADMIN,
    ("GET", "/api/alert-rules"): ADMIN,
    ("POST", "/api/alert-rules"): ADMIN,
    ("GET", "/api/alert-rules/{rule_id}"): ADMIN,
    ("PUT", "/api/alert-rules/{rule_id}"): ADMIN,
    ("DELETE", "/api/alert-rules/{rule_id}"): ADMIN,
    ("POST", "/api/alert-rules/{rule_id}/enable"): ADMIN,
    ("POST", "/api/alert-rules/{rule_id}/disable"): ADMIN,
    ("POST", "/api/alerts/mutes"): ADMIN,
    ("DELETE", "/api/alerts/mutes/{mute_id}"): ADMIN,
    ("GET", "/api/webhooks"): ADMIN,
    ("POST", "/api/webhooks"): ADMIN,
    ("PATCH", "/api/webhooks/{webhook_id}"): ADMIN,
    ("DELETE", "/api/webhooks/{webhook_id}"): ADMIN,
    ("GET", "/api/webhooks/{webhook_id}/deliveries"): ADMIN,
    # Agents (agent tokens, never user sessions).
    ("POST", "/ingest/metrics"): INGEST,
    ("POST", "/v1/metrics"): INGEST,
    ("POST", "/api/v1/write"): INGEST,
}

IDENTITIES = ("anonymous", "viewer", "admin", "agent", "revoked_agent", "expired_session")


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route, included routers flattened ("WS" for WebSockets)."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, WebSocketRoute | APIWebSocketRoute):
            found.add(("WS", str(context.path)))
            continue
        assert context.methods, f"a route that is neither HTTP nor WebSocket: {context.path}"
        found.update((m, str(context.path)) for m in context.methods if m != "HEAD")
    return found


def test_every_route_has_a_rule() -> None:
    app = create_app(BackendSettings(database_url="postgresql://unused/unused"))
    routes = app_routes(app)
    missing = sorted(routes - RULES.keys())
    stale = sorted(RULES.keys() - routes)
    assert not missing, f"routes without an authorization rule (add them to RULES): {missing}"
    assert not stale, f"rules for routes that no longer exist: {stale}"


def expected(rule: str, identity: str) -> str:
    """'allowed', 401 or 403."""
    if rule == OPEN:
        return "allowed"
    if rule == INGEST:
        return "allowed" if identity == "agent" else "401"
    if identity in ("viewer", "admin"):
        return "403" if rule == ADMIN and identity == "viewer" else "allowed"
    return "401"


@dataclass
class Callers:
    database_url: str
    viewer: Any
    admin: Any
    agent_token: str
    revoked_token: str
    expired_cookie: str

    async def headers(self, identity: str, cookie_name: str) -> dict[str, str]:
        """Fresh credentials per request, so a logout in one row can't affect the next."""
        if identity == "viewer":  # the browser way: the session cookie
            return {"Cookie": f"{cookie_name}={await session_for(self.database_url, self.viewer)}"}
        if identity == "admin":  # the API-client way: the session as a bearer token
            token = await session_for(self.database_url, self.admin)
            return {"Authorization": f"Bearer {token}"}
        if identity == "agent":
            return {"Authorization": f"Bearer {self.agent_token}"}
        if identity == "revoked_agent":
            return {"Authorization": f"Bearer {self.revoked_token}"}
        if identity == "expired_session":
            return {"Cookie": f"{cookie_name}={self.expired_cookie}"}
        return {}


@pytest.fixture
async def running(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> AsyncIterator[tuple[RunningBackend, Callers]]:
    viewer = await make_user(database_url, "vera", "viewer")
    admin = await make_user(database_url, "ada", "admin")
    stale_admin = await make_user(database_url, "old-ada", "admin")
    expired_cookie = await session_for(database_url, stale_admin)
    await expire_sessions(database_url, stale_admin)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        _, agent_token = await create_token(pool, "web-1")
        revoked_id, revoked_token = await create_token(pool, "web-2")
        await revoke_token(pool, revoked_id)
    finally:
        await pool.close()
    settings = service_settings(
        database_url, redis_url, redis_prefix, bootstrap_agent_token=SecretStr("hp_x" * 10)
    )
    callers = Callers(database_url, viewer, admin, agent_token, revoked_token, expired_cookie)
    async with serve(settings, log_in=False) as shared, anonymous(shared) as backend:
        yield backend, callers


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", path)


async def http_outcome(client: httpx.AsyncClient, method: str, path: str, headers: Any) -> str:
    response = await client.request(method, concrete(path), headers=headers)
    assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}"
    if response.status_code in (401, 403):
        return str(response.status_code)
    return "allowed"


async def ws_outcome(url: str, headers: dict[str, str]) -> str:
    try:
        async with connect(url, additional_headers=headers, open_timeout=10):
            return "allowed"
    except InvalidStatus as exc:
        # Refused before accept: the handshake answer is 403 whatever the reason.
        return "refused" if exc.response.status_code == 403 else str(exc.response.status_code)


async def test_every_endpoint_for_every_caller(running: tuple[RunningBackend, Callers]) -> None:
    backend, callers = running
    cookie_name = running_services(backend).settings.auth.cookie_name
    routes = sorted(app_routes(backend.app) & RULES.keys())
    mismatches = []
    for method, path in routes:
        rule = RULES[(method, path)]
        for identity in IDENTITIES:
            headers = await callers.headers(identity, cookie_name)
            want = expected(rule, identity)
            if method == "WS":
                got = await ws_outcome(backend.ws_url, headers)
                want = "allowed" if want == "allowed" else "refused"
            else:
                got = await http_outcome(backend.client, method, path, headers)
            if got != want:
                mismatches.append(f"{method} {path} as {identity}: got {got}, want {want}")
    assert not mismatches, "\n".join(mismatches)
