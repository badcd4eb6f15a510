"""The agents' hot path, ~1,000 requests/s per worker: POST /ingest/metrics answered from inside
the app's own middleware (request metrics, security headers and error handling still apply),
skipping the exception, exit-stack, routing and dependency-solving layers below it, with the same
checks in the same order as the documented route (`backend.api.routes.ingest.ingest_json`)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.api.deps import require_agent_token
from backend.api.errors import RETRY_AFTER_SECONDS, UNAVAILABLE, unavailable_detail
from backend.api.routes.ingest import ingest_json, ingest_json_body, router

# The route FastAPI would have matched: the request metrics label a request by its route's path
# template, and they find it in the scope, where routing would have put it.
_JSON_ROUTE = next(
    route
    for route in router.routes
    if isinstance(route, APIRoute) and route.endpoint is ingest_json
)


async def ingest_json_fast(request: Request) -> Response:
    request.scope["route"] = _JSON_ROUTE
    try:
        await require_agent_token(request)
    except HTTPException as exc:  # 401 / 429, exactly as FastAPI's handler would answer them
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    except UNAVAILABLE as exc:  # the token store (PostgreSQL) is away: retry, never 500
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return JSONResponse({"detail": unavailable_detail(exc)}, 503, headers=headers)
    return await ingest_json_body(request)


class JsonIngestFastPath:
    """ASGI middleware: POST /ingest/metrics goes to `ingest_json_fast`, anything else on to the
    app."""

    def __init__(self, app: ASGIApp, path: str = _JSON_ROUTE.path) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            response = await ingest_json_fast(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
