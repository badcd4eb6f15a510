"""The FastAPI app factory; the lifespan builds every component and tears them down in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from backend.alerts.feed import AlertFeedFrames, alert_feed_channel
from backend.alerts.service import start_alerting
from backend.api.routes import (
    agent_tokens,
    alert_rules,
    alerts,
    auth,
    health,
    history,
    hosts,
    ingest,
    recent,
    self_metrics,
    users,
)
from backend.api.routes import (
    settings as settings_routes,
)
from backend.ingest.scrape import Scraper
from backend.live import ws
from backend.live.hub import LiveHub
from backend.live.redis_bridge import (
    BatchPublisher,
    FrameSource,
    LiveFrames,
    live_channel,
    live_subscriber,
)
from backend.notify import webhook_routes
from backend.pipeline import IngestPipeline, RecentAndLive
from backend.redis_connection import connect_redis
from backend.security import install_security
from backend.self_metrics import BackendMetrics, RequestMetricsMiddleware
from backend.settings import BackendSettings, load_settings
from backend.storage.maintenance import ensure_partitions
from backend.storage.migrations import migrate_database
from backend.storage.postgres import create_pool
from backend.storage.redis_window import RecentWindow
from backend.storage.retention import start_retention
from backend.storage.sealing import start_sealing
from backend.storage.writer import SampleWriter
from backend.users.bootstrap import ensure_initial_admin

log = logging.getLogger(__name__)

TAGS = [
    {"name": "ingest", "description": "Agent JSON, OTLP/HTTP and Prometheus remote_write."},
    {"name": "metrics", "description": "Recent (Redis) and historical (PostgreSQL) samples."},
    {"name": "hosts", "description": "Hosts the backend has heard from."},
    {
        "name": "live",
        "description": (
            "WebSocket `/ws` (not listed below: OpenAPI has no WebSockets). Send "
            '`{"type":"subscribe","hosts":["web-1"]}` or `{"type":"subscribe","hosts":"*"}` '
            '(answered by `{"type":"subscribed"}`) or `{"type":"ping"}` (→ `pong`). Receive '
            '`{"type":"samples","host":…,"accepted_ms":…,"samples":[{"name","labels","time_ms",'
            '"value"}],"processes":{"time_ms","processes":[…]}|null}` for each accepted batch. '
            'A bad message gets `{"type":"error","detail":…}`; the socket stays open. A client '
            "too slow to keep up skips frames, and is closed with code 1013 if it stops reading."
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
    app = FastAPI(
        title="HostPulse backend",
        version="0.1.0",
        description="Ingests host metrics, stores them in Redis and PostgreSQL, serves them live.",
        openapi_tags=TAGS,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.add_middleware(ingest.JsonIngestFastPath)  # innermost: inside metrics and security
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    install_security(app, settings.security, settings.cors_origins)
    for router in (recent.router, history.router, hosts.router, health.router, self_metrics.router):
        app.include_router(router)
    app.include_router(ws.router)
    app.include_router(ingest.router)
    for router in (auth.router, users.router, agent_tokens.router, settings_routes.router):
        app.include_router(router)
    for router in (alert_rules.router, alerts.router, webhook_routes.router):
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


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: BackendSettings = app.state.settings
    metrics: BackendMetrics = app.state.metrics
    applied = await migrate_database(settings.database_url)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    async with contextlib.AsyncExitStack() as stack:
        pool = await create_pool(settings.database_url)
        stack.push_async_callback(pool.close)
        # Short timeouts: a dead Redis must not hold ingest requests (PostgreSQL is the record).
        redis = connect_redis(settings.redis_url, socket_connect_timeout=2.0, socket_timeout=3.0)
        stack.push_async_callback(redis.aclose)

        writer = SampleWriter(
            pool,
            max_queue_samples=settings.writer_queue_max_samples,
            batch_samples=settings.writer_batch_samples,
            flush_interval=settings.writer_flush_interval,
        )
        await writer.start()
        stack.push_async_callback(writer.stop, settings.shutdown_timeout)
        metrics.watch_writer(writer)

        window = RecentWindow(
            redis, prefix=settings.redis_prefix, window_seconds=settings.recent_window
        )
        hub = LiveHub(client_queue=settings.live_client_queue, metrics=metrics)
        metrics.watch_live_clients(lambda: hub.client_count)
        channel = live_channel(settings.redis_prefix)
        subscriber = live_subscriber(settings.redis_url, channel, hub, metrics)
        subscriber.start()
        stack.push_async_callback(subscriber.stop)
        sources: list[FrameSource] = [
            LiveFrames(channel, local_listeners=lambda: hub.client_count > 0)
        ]
        alert_feed = None
        if settings.alerting.enabled:
            alert_feed = AlertFeedFrames(alert_feed_channel(settings.redis_prefix))
            sources.append(alert_feed)
        publisher = BatchPublisher(redis, sources)
        pipeline = IngestPipeline(writer, RecentAndLive(redis, window, publisher), metrics)

        app.state.pool = pool
        app.state.redis = redis
        app.state.writer = writer
        app.state.recent_window = window
        app.state.live_hub = hub
        app.state.live_subscriber = subscriber
        app.state.pipeline = pipeline
        app.state.alert_feed = alert_feed

        if settings.scrape_targets:
            scraper = Scraper(list(settings.scrape_targets), pipeline)
            await scraper.start()
            stack.push_async_callback(scraper.stop)
        await _start_partition_maintenance(stack, pool, settings.partition_maintenance_interval)
        await ensure_initial_admin(pool, settings.auth)
        await start_retention(stack, app)
        sealer = await start_sealing(stack, pool, settings.sealing)
        if sealer is not None:
            metrics.watch_sealing(sealer.stats)
        await start_alerting(stack, app)
        log.info("backend ready")
        yield
        log.info("shutting down: flushing the writer")


async def _start_partition_maintenance(
    stack: contextlib.AsyncExitStack, pool: Any, interval: float
) -> None:
    """Creates the coming days' raw-sample partitions now and every `interval` seconds."""

    async def loop() -> None:
        while True:
            try:
                created = await ensure_partitions(pool, datetime.now(UTC))
                if created:
                    log.info("created sample partitions: %s", ", ".join(created))
            except Exception:  # keep the job alive; the next run retries
                log.exception("partition maintenance failed")
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="partition-maintenance")

    async def cancel() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(cancel)
