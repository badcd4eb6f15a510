"""Refuse, with 422 naming the field, text PostgreSQL cannot store: a NUL character anywhere in a
string (text/jsonb cannot hold it) or an unpaired UTF-16 surrogate (`"\\ud800"` in JSON: not
encodable as UTF-8). Without this such input reached the database and came back as a 500.

An ASGI middleware for the API's query strings and JSON bodies, so every route is covered without
each model repeating the check. The ingest receivers keep their own checks (`backend.ingest`),
which answer in their protocols' formats; they are passed through untouched.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.ingest.limits import find_unstorable, unstorable

# Bodies larger than this are left to the route (which refuses them or reads them itself).
MAX_CHECKED_BODY_BYTES = 1024 * 1024
INGEST_PATHS = frozenset({"/ingest/metrics", "/v1/metrics", "/api/v1/write"})


def find_problem(
    query_string: bytes, body: bytes | None
) -> tuple[tuple[str | int, ...], str] | None:
    """The first (location, problem) in the query string or JSON body, FastAPI-style `loc`."""
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        problem = unstorable(name) or unstorable(value)
        if problem:
            return ("query", name), problem
    if body:
        try:
            document = json.loads(body)  # the stdlib keeps unpaired surrogates; orjson refuses
        except ValueError:
            return None  # not JSON: the route's own parser answers
        return find_unstorable(document, ("body",))
    return None


def _safe_loc(loc: tuple[str | int, ...]) -> list[str | int]:
    """The location as JSON can carry it (the bad text itself escaped, never echoed raw)."""
    return [
        part if isinstance(part, int) else part.encode("unicode_escape").decode() for part in loc
    ]


class UnstorableTextGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in INGEST_PATHS:
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await self._refuse(send, ("path",), "contains a NUL character")
            return
        body: bytes | None = None
        headers = dict(scope.get("headers") or [])
        if b"json" in headers.get(b"content-type", b"").lower():
            body, receive = await _buffer(receive)
        found = find_problem(scope.get("query_string", b""), body)
        if found is not None:
            await self._refuse(send, *found)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send: Send, loc: tuple[str | int, ...], problem: str) -> None:
        where = ".".join(str(p) for p in _safe_loc(loc))
        detail = [
            {"loc": _safe_loc(loc), "msg": f"{where}: {problem}", "type": "string_unstorable"}
        ]
        payload = orjson.dumps({"detail": detail})
        await send(
            {
                "type": "http.response.start",
                "status": 422,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


async def _buffer(receive: Receive) -> tuple[bytes | None, Receive]:
    """Read the body (up to the cap) and a `receive` that replays it to the app."""
    chunks: list[bytes] = []
    size = 0
    more = True
    messages: list[Message] = []
    while more:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
        if size > MAX_CHECKED_BODY_BYTES:
            break
    checked = b"".join(chunks) if size <= MAX_CHECKED_BODY_BYTES and not more else None

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return checked, replay
