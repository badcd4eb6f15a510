"""The dashboard's own small web app: the static single-page UI, `/config.json` naming the
backend, `/healthz`, and security headers whose CSP lets the page talk only to that backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"


class DashboardSettingsError(ValueError):
    """A setting the dashboard cannot start with; the message names it."""


@dataclass(frozen=True)
class DashboardSettings:
    backend_url: str

    def __post_init__(self) -> None:
        backend_origin(self.backend_url)


def backend_origin(url: str) -> str:
    """`scheme://host[:port]` of the backend URL; DashboardSettingsError when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DashboardSettingsError(
            f"backend_url: {url!r} must be an http:// or https:// URL such as http://127.0.0.1:8000"
        )
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(backend_url: str) -> str:
    """Scripts and styles only from this app; fetch and WebSocket only to the backend."""
    origin = backend_origin(backend_url)
    ws_origin = origin.replace("http", "ws", 1)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {origin} {ws_origin}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "object-src 'none'",
        ]
    )


class SecurityHeaders:
    """Adds the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = {
            "content-security-policy": csp,
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "no-referrer",
            "cross-origin-opener-policy": "same-origin",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: DashboardSettings) -> FastAPI:
    """A new dashboard app serving the UI for the backend at `settings.backend_url`."""
    app = FastAPI(title="HostPulse dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    backend_url = settings.backend_url.rstrip("/")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/config.json")
    async def config() -> JSONResponse:
        return JSONResponse({"backend_url": backend_url}, headers={"cache-control": "no-store"})

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeaders, csp=content_security_policy(backend_url))
    return app
