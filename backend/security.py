"""Security headers on every response, and CORS limited to explicit origins.

The headers middleware is a plain ASGI class (no body buffering), added last so it wraps CORS
and the routes: preflights, errors and 404s carry the headers too.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecuritySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Strict-Transport-Security max-age; 0 sends none (turn on only when served over HTTPS).
    hsts_seconds: int = Field(default=0, ge=0, le=2 * 365 * 24 * 3600)
    hsts_include_subdomains: bool = False


def check_cors_origins(origins: list[str]) -> list[str]:
    """Explicit `scheme://host[:port]` origins only: `*` with cookies would let any site read."""
    for origin in origins:
        if "*" in origin:
            raise ValueError(
                f"{origin!r}: wildcard origins are refused (sessions are sent with credentials); "
                "list each origin, e.g. https://dash.example.com"
            )
        if not origin.startswith(("http://", "https://")) or origin.rstrip("/") != origin:
            raise ValueError(f"{origin!r}: an origin is scheme://host[:port] without a path")
        if "/" in origin.split("://", 1)[1]:
            raise ValueError(f"{origin!r}: an origin is scheme://host[:port] without a path")
    return origins


def security_headers(settings: SecuritySettings) -> list[tuple[str, str]]:
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", "frame-ancestors 'none'"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if settings.hsts_seconds > 0:
        value = f"max-age={settings.hsts_seconds}"
        if settings.hsts_include_subdomains:
            value += "; includeSubDomains"
        headers.append(("Strict-Transport-Security", value))
    return headers


class SecurityHeadersMiddleware:
    """Adds `headers` to every HTTP response; `Cache-Control: no-store` unless a route set its own
    (API answers carry live data and personal sessions that no cache should keep)."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[str, str]]) -> None:
        self.app = app
        self.headers = list(headers)
        # Raw (latin-1, lower-case name) pairs, appended to the response's own header list.
        self._raw = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in [*headers, ("Cache-Control", "no-store")]
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = list(message.get("headers", ()))
                present = {name.lower() for name, _ in own}
                message["headers"] = own + [h for h in self._raw if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security(app: FastAPI, settings: SecuritySettings, cors_origins: Sequence[str]) -> None:
    """CORS for the listed origins (with credentials, so the dashboard's cookie works), then the
    headers middleware around everything."""
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(check_cors_origins(list(cors_origins))),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(SecurityHeadersMiddleware, headers=security_headers(settings))
