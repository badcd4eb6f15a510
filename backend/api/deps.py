"""Typed dependencies the routes share: app state, and who the caller is.

A caller is a user when it presents a live session, either as the login cookie or as
`Authorization: Bearer hps_…`. `read_access` (every read API and `/ws`) needs any user,
`require_admin` (rules, tokens, webhooks, users, settings) an admin. Ingest takes agent tokens
instead (`backend.auth.agent_tokens.require_agent_token`); an agent token is not a user.
Open on purpose: `/healthz`, `/readyz`, `/metrics` (probes and Prometheus scrapes), `/docs`,
`/redoc`, `/openapi.json`, and `/api/auth/login|logout`. The rule for every route is in
`tests/backend/test_authorization_matrix.py`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import asyncpg
import redis.asyncio as aioredis
from fastapi import Depends, HTTPException, Request
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection

from backend.self_metrics import BackendMetrics
from backend.settings import BackendSettings
from backend.storage.redis_window import RecentWindow
from backend.users.model import User
from backend.users.sessions import user_for_session

# WebSocket close codes in the 4000 range mirror HTTP: 4401 unauthenticated, 4403 forbidden.
WS_UNAUTHENTICATED = 4401
WS_FORBIDDEN = 4403


def session_token(connection: HTTPConnection) -> str | None:
    """The session token the caller presents: a bearer header wins over the cookie."""
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    settings: BackendSettings = connection.app.state.settings
    return connection.cookies.get(settings.auth.cookie_name) or None


async def current_user(connection: HTTPConnection) -> User | None:
    """The logged-in user, or None (no credentials, an unknown or an expired session)."""
    token = session_token(connection)
    if token is None:
        return None
    pool: asyncpg.Pool = connection.app.state.pool
    return await user_for_session(pool, token)


def _refuse(connection: HTTPConnection, status: int, detail: str) -> Exception:
    if connection.scope["type"] == "websocket":
        # Raised before accept(): the server answers the handshake with 403 and no socket opens.
        code = WS_UNAUTHENTICATED if status == 401 else WS_FORBIDDEN
        return WebSocketException(code=code, reason=detail)
    headers = {"WWW-Authenticate": 'Bearer realm="hostpulse"'} if status == 401 else None
    return HTTPException(status, detail=detail, headers=headers)


def cross_site_websocket(connection: HTTPConnection) -> bool:
    """A browser WebSocket opened by a page of another origin (cross-site WebSocket hijacking):
    browsers don't apply CORS to WebSockets, so the Origin is checked here."""
    origin = connection.headers.get("origin")
    if connection.scope["type"] != "websocket" or origin is None:
        return False  # not a WebSocket, or not a browser
    settings: BackendSettings = connection.app.state.settings
    if origin in settings.cors_origins:
        return False
    return urlsplit(origin).netloc.lower() != connection.headers.get("host", "").lower()


async def read_access(connection: HTTPConnection) -> User:
    """Any logged-in user (viewer or admin); 401 otherwise."""
    if cross_site_websocket(connection):
        raise _refuse(connection, 403, "WebSocket from an origin not in cors_origins")
    user = await current_user(connection)
    if user is None:
        raise _refuse(connection, 401, "not logged in: log in at POST /api/auth/login")
    return user


async def require_admin(connection: HTTPConnection) -> User:
    """A logged-in admin; 401 without a session, 403 for a viewer."""
    user = await read_access(connection)
    if not user.is_admin:
        raise _refuse(connection, 403, "this needs the admin role")
    return user


def _settings(request: Request) -> BackendSettings:
    settings: BackendSettings = request.app.state.settings
    return settings


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _redis(request: Request) -> aioredis.Redis:
    client: aioredis.Redis = request.app.state.redis
    return client


def _window(request: Request) -> RecentWindow:
    window: RecentWindow = request.app.state.recent_window
    return window


def _metrics(request: Request) -> BackendMetrics:
    metrics: BackendMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[BackendSettings, Depends(_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
RedisDep = Annotated[aioredis.Redis, Depends(_redis)]
WindowDep = Annotated[RecentWindow, Depends(_window)]
MetricsDep = Annotated[BackendMetrics, Depends(_metrics)]
ReadAccess = Depends(read_access)
AdminAccess = Depends(require_admin)
UserDep = Annotated[User, Depends(read_access)]
AdminDep = Annotated[User, Depends(require_admin)]

# Documented on every read route.
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in (no session, or an expired one)."},
    422: {"description": "A query parameter is missing or invalid; `detail` names it."},
}
# Documented on every admin route.
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in (no session, or an expired one)."},
    403: {"description": "Logged in, but not an admin."},
}


def not_found_doc(what: str) -> dict[int | str, dict[str, Any]]:
    """The 404 entry of a route addressing one `what` by id."""
    return {404: {"description": f"No {what} with this id."}}


def no_such(what: str, item_id: int) -> HTTPException:
    """404 naming the id field and what it should have found."""
    return HTTPException(404, detail=f"id: no {what} {item_id}")
