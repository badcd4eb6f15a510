"""Basic auth for /metrics from the web config's `basic_auth_users` (bcrypt hashes).

bcrypt costs ~250 ms per check at cost 10, so a successful check is remembered (as
exporter-toolkit does) under a SHA-256 of the user, hash and password: a scrape every few seconds
pays it once. An unknown user is checked against a dummy hash so the answer takes as long.
Passwords over bcrypt's 72-byte limit are refused (401) with a warning, never truncated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

BCRYPT_MAX_BYTES = 72
CACHE_SIZE = 256
# A valid hash of a random password: unknown users cost one bcrypt check like known ones.
_DUMMY_HASH = b"$2b$10$jd7wOqmYKXt8X2xg2Hqxl.AHInh99rUpIqhidLOCr50EYo9pDwQ.."
_CHALLENGE = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("WWW-Authenticate", 'Basic realm="hostpulse-exporter", charset="UTF-8"'),
]


def parse_basic(header: str | None) -> tuple[str, bytes] | None:
    """(user, password) from an `Authorization: Basic ...` header; None if absent or malformed."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


class BasicAuth:
    """Checks credentials against bcrypt hashes, remembering the successful checks."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = {user: hashed.encode("ascii") for user, hashed in users.items()}
        self._ok: dict[bytes, None] = {}  # insertion-ordered: the oldest is evicted first
        self._lock = threading.Lock()
        self._warned_long = False

    def check(self, user: str, password: bytes) -> bool:
        import bcrypt

        hashed = self._users.get(user)
        key = hashlib.sha256(user.encode() + b"\0" + (hashed or b"") + b"\0" + password).digest()
        with self._lock:
            if hashed is not None and key in self._ok:
                return True
        if len(password) > BCRYPT_MAX_BYTES:
            if not self._warned_long:  # once: a misconfigured scraper retries every interval
                self._warned_long = True
                _log.warning(
                    "basic auth: password longer than bcrypt's 72 bytes refused",
                    extra={"fields": {"user": user, "bytes": len(password)}},
                )
            return False
        try:
            ok = bcrypt.checkpw(password, hashed or _DUMMY_HASH)
        except ValueError:  # a hash bcrypt cannot read (validated at start, so not expected)
            return False
        if not ok or hashed is None:
            return False
        with self._lock:
            self._ok[key] = None
            while len(self._ok) > CACHE_SIZE:
                del self._ok[next(iter(self._ok))]
        return True

    def wrap(self, app: WsgiApp) -> WsgiApp:
        """`app` behind basic auth: 401 with a `WWW-Authenticate` challenge unless let in."""

        def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            credentials = parse_basic(environ.get("HTTP_AUTHORIZATION"))
            if credentials is not None and self.check(*credentials):
                return app(environ, start_response)
            start_response("401 Unauthorized", list(_CHALLENGE))
            return [b"401 Unauthorized: basic auth required (see the exporter's web config)\n"]

        return guarded


def with_headers(app: WsgiApp, headers: Mapping[str, str]) -> WsgiApp:
    """`app` adding the web config's `http_server_config.headers` to every response."""
    extra = list(headers.items())
    if not extra:
        return app

    def wrapped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, response_headers: list[tuple[str, str]], *rest: Any) -> Any:
            return start_response(status, response_headers + extra, *rest)

        return app(environ, start)

    return wrapped
