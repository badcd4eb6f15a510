"""Security headers on every response, CORS for listed origins only, `*` refused in settings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from backend.security import SecurityHeadersMiddleware, SecuritySettings, security_headers
from backend.settings import ConfigError, load_settings
from tests.backend.auth.support import anonymous, make_user, session_for
from tests.backend.running import serve, service_settings

DASHBOARD = "https://dash.example.com"


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"


async def test_every_kind_of_response_carries_the_headers(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    settings = service_settings(
        database_url,
        redis_url,
        redis_prefix,
        cors_origins=[DASHBOARD],
        security={"hsts_seconds": 31536000},
    )
    async with serve(settings, log_in=False) as shared, anonymous(shared) as backend:
        client = backend.client
        responses = {
            "open": await client.get("/healthz"),
            "unauthenticated": await client.get("/api/hosts"),
            "not found": await client.get("/no/such/path"),
            "bad login": await client.post("/api/auth/login", json={}),
            "docs": await client.get("/openapi.json"),
            "preflight": await client.options(
                "/api/hosts",
                headers={"Origin": DASHBOARD, "Access-Control-Request-Method": "GET"},
            ),
        }
        for what, response in responses.items():
            assert_security_headers(response)
            assert response.headers["strict-transport-security"] == "max-age=31536000", what
        assert responses["unauthenticated"].status_code == 401
        assert responses["unauthenticated"].headers["cache-control"] == "no-store"

        allowed = await client.get("/healthz", headers={"Origin": DASHBOARD})
        assert allowed.headers["access-control-allow-origin"] == DASHBOARD
        assert allowed.headers["access-control-allow-credentials"] == "true"
        other = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_no_hsts_unless_configured() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    wrapped = SecurityHeadersMiddleware(app, security_headers(SecuritySettings()))
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/")
    assert_security_headers(response)
    assert "strict-transport-security" not in response.headers
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("origin", ["*", "https://*.example.com", "https://dash.example.com/ui"])
def test_wildcard_or_malformed_cors_origins_stop_start_up(
    origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTPULSE_DATABASE_URL", "postgresql://unused/unused")
    monkeypatch.setenv("HOSTPULSE_CORS_ORIGINS", f'["{origin}"]')
    with pytest.raises(ConfigError, match="cors_origins"):
        load_settings()


async def test_a_websocket_from_a_foreign_page_is_refused_even_with_a_session(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    viewer = await make_user(database_url, "vera", "viewer")
    cookie = {"Cookie": f"hostpulse_session={await session_for(database_url, viewer)}"}
    settings = service_settings(database_url, redis_url, redis_prefix, cors_origins=[DASHBOARD])
    async with serve(settings, log_in=False) as shared, anonymous(shared) as backend:
        own_origin = backend.base_url
        for origin in (Origin(own_origin), Origin(DASHBOARD)):
            async with connect(backend.ws_url, additional_headers=cookie, origin=origin) as ws:
                await ws.send('{"type":"ping"}')
                assert "pong" in str(await ws.recv())
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                backend.ws_url, additional_headers=cookie, origin=Origin("https://evil.example")
            ):
                pass
        assert refused.value.response.status_code == 403
