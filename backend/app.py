"""The FastAPI app factory: middleware and routers; its lifespan builds every service
(`backend.services`) and tears them down in order."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from backend.api.errors import install_error_handlers
from backend.api.json_fast_path import JsonIngestFastPath
from backend.api.routes import (
    agent_tokens,
    alert_rules,
    alerts,
    auth,
    health,
    history,
    hosts,
    ingest,
    live,
    recent,
    self_metrics,
    users,
    webhooks,
)
from backend.api.routes import settings as settings_routes
from backend.security import install_security
from backend.self_metrics import BackendMetrics, RequestMetricsMiddleware
from backend.services import start_services
from backend.settings import BackendSettings, load_settings

log = logging.getLogger(__name__)

TAGS = [
    {"name": "ingest", "description": "Agent JSON, OTLP/HTTP and Prometheus remote_write."},
    {"name": "metrics", "description": "Recent (Redis) and historical (PostgreSQL) samples."},
    {"name": "hosts", "description": "Hosts the backend has heard from."},
    {
        "name": "live",
        "description": (
            "WebSocket `/ws` (not listed below: OpenAPI has no WebSockets). Each `subscribe` "
            "replaces the previous one and is answered by `subscribed`.\n\n"
            "**Version 2** (what the dashboard speaks): "
            '`{"type":"subscribe","v":2,"summary":true}` for the fleet summaries, '
            '`{"type":"subscribe","v":2,"hosts":["web-1"]}` for one host\'s full frames (both '
            'may be combined; `hosts` defaults to none, `"*"` is every host). Answer: '
            '`{"type":"subscribed","v":2,"hosts":[…],"summary":true|false}`. A summary client '
            'then receives `{"type":"summaries","full":true,"hosts":[…]}` with every known '
            "host, and every `live_summary_flush` seconds "
            '`{"type":"summaries","full":false,"hosts":[…]}` '
            "with the hosts that changed (a report, an alert, up→stale): per host "
            '`{"host","status":"up"|"stale","seen_ms","cpu","mem","mem_used","load",'
            '"firing","pending","top":{"name","pid","cpu"}}` (ratios 0 to 1; a field without a '
            "value is left out; ~200 bytes plus the host name). `stale` means no report for "
            "`host_stale_after` seconds.\n\n"
            '**Version 1** (no `"v"`, older dashboards): `{"type":"subscribe","hosts":["web-1"]}` '
            'or `"hosts":"*"`, answered by `{"type":"subscribed","hosts":…}`; no summaries. '
            'An unknown `"v"` is refused with an error naming the versions spoken.\n\n'
            "**Both**: full frames are "
            '`{"type":"samples","host":…,"accepted_ms":…,"samples":[{"name","labels","time_ms",'
            '"value"}],"processes":{"time_ms","processes":[…]}|null}`, one per host and accepted '
            'batch; every client receives `{"type":"alert",…}` transitions; `{"type":"ping"}` '
            '→ `pong`. A bad message gets `{"type":"error","detail":…}`; the socket stays open. '
            "A client too slow to keep up skips messages, and is closed with code 1013 if it "
            "stops reading. The long form, with what each dashboard view subscribes to: "
            "`docs/live-protocol.md`."
        ),
    },
    {
        "name": "alerts",
        "description": "Alert rules, current alerts, alert history, mutes and webhooks.",
    },
    {"name": "auth", "description": "Log in and out (session cookie or bearer token)."},
    {"name": "users", "description": "Dashboard accounts and their roles (admins only)."},
    {"name": "agent tokens", "description": "Tokens agents ingest with (admins only)."},
    {"name": "settings", "description": "Effective settings, read-only (admins only)."},
    {"name": "health", "description": "Liveness, readiness and the backend's own metrics."},
]


def create_app(settings: BackendSettings) -> FastAPI:
    """A new app for these settings; nothing is connected until the lifespan starts."""
    metrics = BackendMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            app.state.services = await start_services(stack, settings, metrics)
            log.info("backend ready")
            yield
            log.info("shutting down: flushing the writer")

    app = FastAPI(
        title="HostPulse backend",
        version="0.1.0",
        description="Ingests host metrics, stores them in Redis and PostgreSQL, serves them live.",
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(JsonIngestFastPath)  # innermost: inside metrics and security
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    install_security(app, settings.security, settings.cors_origins)
    for router in (recent.router, history.router, hosts.router, health.router, self_metrics.router):
        app.include_router(router)
    app.include_router(live.router)
    app.include_router(ingest.router)
    for router in (auth.router, users.router, agent_tokens.router, settings_routes.router):
        app.include_router(router)
    for router in (alert_rules.router, alerts.router, webhooks.router):
        app.include_router(router)
    return app


def create_app_from_environment() -> FastAPI:
    """The uvicorn factory for `serve` (one per worker): the file named by HOSTPULSE_CONFIG_FILE,
    then the environment."""
    path = os.environ.get("HOSTPULSE_CONFIG_FILE")
    settings = load_settings(Path(path) if path else None)
    # Worker processes start fresh: give the backend's own loggers a handler there too.
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return create_app(settings)
