"""App-wide error answers no single route can give right.

- PostgreSQL or Redis away (connection refused, reset, timed out, server shutting down) → 503 with
  `Retry-After`: a retry will succeed once it is back, so senders must keep the data, never 500.
- 405 with an `Allow` listing every method of every route on that path (Starlette's own 405 only
  knows the first route it matched: a path with GET and POST in two routes said `Allow: GET`).
- Errors on the protocol receivers in the protocol's own format: OTLP/HTTP (`/v1/metrics`) answers
  a `google.rpc.Status` in the request's encoding, remote_write (`/api/v1/write`) plain text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg
import orjson
import redis.exceptions
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from backend.api.text_guard import UnstorableTextGuard

RETRY_AFTER_SECONDS = 5
OTLP_PATH = "/v1/metrics"
REMOTE_WRITE_PATH = "/api/v1/write"

# Raised when a store is away; anything else unexpected stays a 500 (a bug to fix, not to hide).
UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionError,  # refused / reset (asyncpg connecting, raw sockets)
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # "pool is closing", connection lost mid-query
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


def unavailable_detail(exc: BaseException) -> str:
    store = "Redis" if isinstance(exc, redis.exceptions.RedisError) else "PostgreSQL"
    return f"{store} is unavailable ({type(exc).__name__}); retry after {RETRY_AFTER_SECONDS} s"


def otlp_status_body(status: int, message: str, content_type: str | None) -> tuple[bytes, str]:
    """A `google.rpc.Status` in the request's encoding (JSON when it asked for JSON)."""
    grpc_code = {400: 3, 401: 16, 403: 7, 404: 5, 413: 3, 415: 3, 429: 8, 503: 14}.get(status, 2)
    body = Status(code=grpc_code, message=message)
    if (content_type or "").split(";", 1)[0].strip().lower() == "application/json":
        return orjson.dumps(json_format.MessageToDict(body)), "application/json"
    return body.SerializeToString(), "application/x-protobuf"


def protocol_error(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response | None:
    """The error in the format of the receiver at this path, or None for the usual JSON."""
    path = request.url.path
    if path == OTLP_PATH:
        body, media = otlp_status_body(status, detail, request.headers.get("content-type"))
        return Response(body, status_code=status, media_type=media, headers=headers)
    if path == REMOTE_WRITE_PATH:
        return Response(detail + "\n", status_code=status, media_type="text/plain", headers=headers)
    return None


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(routes: Iterable[BaseRoute], scope: dict[str, Any]) -> list[str]:
    """Every method some route fully matches for this path (asked through the routes' public
    `matches`, so included routers and path converters answer for themselves)."""
    allowed = []
    for method in _METHODS:
        probe = {**scope, "method": method, "type": "http"}
        if any(route.matches(probe)[0] == Match.FULL for route in routes):
            allowed.append(method)
    return allowed


# FastAPI's answer to a JSON body it could not even decode (invalid UTF-8, say): a bare 400 that
# no route documents. It is the client's invalid input like any other: 422, in the same shape.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if (
        exc.status_code == 400
        and exc.detail == _UNPARSABLE_BODY
        and request.url.path
        not in (
            OTLP_PATH,
            REMOTE_WRITE_PATH,
        )
    ):
        detail = [{"loc": ["body"], "msg": "body is not valid JSON text", "type": "json_invalid"}]
        return Response(orjson.dumps({"detail": detail}), 422, media_type="application/json")
    if exc.status_code == 405:
        methods = allowed_methods(request.app.router.routes, dict(request.scope))
        if methods:
            headers["Allow"] = ", ".join(methods)
        exc = HTTPException(405, exc.detail, headers)
    answer = protocol_error(request, exc.status_code, str(exc.detail), headers or None)
    if answer is not None:
        return answer
    return await http_exception_handler(request, exc)


async def _unavailable(request: Request, exc: Exception) -> Response:
    detail = unavailable_detail(exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    answer = protocol_error(request, 503, detail, headers)
    if answer is not None:
        return answer
    return Response(
        orjson.dumps({"detail": detail}), 503, media_type="application/json", headers=headers
    )


def _document_string_details(schema: dict[str, Any]) -> None:
    """422s name the field in a sentence (`{"detail": "until: is in the past"}`) as well as in
    FastAPI's list form: the shared error schema says both."""
    error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
    if error is None:
        return
    listed = error["properties"]["detail"]
    error["properties"]["detail"] = {
        "anyOf": [{k: v for k, v in listed.items() if k != "title"}, {"type": "string"}],
        "title": "Detail",
    }


_UNAVAILABLE_DOC = {
    "description": (
        "PostgreSQL or Redis is unavailable (or the write queue is full): nothing was done; "
        "retry after `Retry-After` seconds."
    ),
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
}


def _document_unavailable(schema: dict[str, Any]) -> None:
    """Every operation may meet a store that is away: its 503 is part of the contract."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("503", _UNAVAILABLE_DOC)


def install_error_handlers(app: FastAPI) -> None:
    """The handlers above, the 422 schema that documents string details, and the guard that
    refuses unstorable text (`backend.api.text_guard`) before any route sees it."""
    app.add_middleware(UnstorableTextGuard)
    app.add_exception_handler(HTTPException, _http_error)
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _unavailable)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_openapi()
            _document_string_details(schema)
            _document_unavailable(schema)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
