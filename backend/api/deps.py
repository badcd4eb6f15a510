"""Typed dependencies the routes share: the process's services, and who the caller is.

A caller is a user when it presents a live session, either as the login cookie or as
`Authorization: Bearer hps_…`. `read_access` (every read API and `/ws`) needs any user,
`require_admin` (rules, tokens, webhooks, users, settings) an admin. Ingest takes agent tokens
instead (`require_agent_token`, rate limited per token); an agent token is not a user.
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
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection

from backend.auth.sessions import user_for_session
from backend.ratelimit.limiters import RateLimiters, limit_ingest
from backend.self_metrics import BackendMetrics
from backend.services import Services
from backend.settings import BackendSettings
from backend.storage.redis_window import RecentWindow
from backend.users.model import User

# WebSocket close codes in the 4000 range mirror HTTP: 4401 unauthenticated, 4403 forbidden.
WS_UNAUTHENTICATED = 4401
WS_FORBIDDEN = 4403


def services(connection: HTTPConnection) -> Services:
    """The services the app's lifespan built (`backend.services.start_services`)."""
    built: Services = connection.app.state.services
    return built


def session_token(connection: HTTPConnection) -> str | None:
    """The session token the caller presents: a bearer header wins over the cookie."""
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.cookies.get(services(connection).settings.auth.cookie_name) or None


async def current_user(connection: HTTPConnection) -> User | None:
    """The logged-in user, or None (no credentials, an unknown or an expired session)."""
    token = session_token(connection)
    if token is None:
        return None
    return await user_for_session(services(connection).pool, token)


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
    if origin in services(connection).settings.cors_origins:
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


def _unauthorized_agent(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": 'Bearer realm="ingest"'})


# Only so OpenAPI shows the bearer scheme; the header is parsed below for clearer 401 details.
_BEARER_DOC = HTTPBearer(auto_error=False, description="An agent token (hp_...).")


async def require_agent_token(
    request: Request,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER_DOC)] = None,
) -> int:
    """The caller's agent token id, or 401 with `WWW-Authenticate: Bearer`; 429 with
    Retry-After when the token's rate limit bucket is empty."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized_agent("missing Authorization: Bearer <agent token>")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized_agent("Authorization header must be 'Bearer <agent token>'")
    found = services(request)
    token_id = await found.agent_tokens.verify(token.strip())
    if token_id is None:
        raise _unauthorized_agent("invalid or revoked agent token")
    await limit_ingest(found.rate_limits, token_id)
    return token_id


def _settings(request: Request) -> BackendSettings:
    return services(request).settings


def _pool(request: Request) -> asyncpg.Pool:
    return services(request).pool


def _redis(request: Request) -> aioredis.Redis:
    return services(request).redis


def _window(request: Request) -> RecentWindow:
    return services(request).window


def _metrics(request: Request) -> BackendMetrics:
    return services(request).metrics


def _rate_limits(request: Request) -> RateLimiters:
    return services(request).rate_limits


ServicesDep = Annotated[Services, Depends(services)]
SettingsDep = Annotated[BackendSettings, Depends(_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
RedisDep = Annotated[aioredis.Redis, Depends(_redis)]
WindowDep = Annotated[RecentWindow, Depends(_window)]
MetricsDep = Annotated[BackendMetrics, Depends(_metrics)]
RateLimitsDep = Annotated[RateLimiters, Depends(_rate_limits)]
AgentTokenDep = Annotated[int, Depends(require_agent_token)]
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
