"""Typed dependencies the routes share: app state, and the slot where read auth will go."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import redis.asyncio as aioredis
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from backend.self_metrics import BackendMetrics
from backend.settings import BackendSettings
from backend.storage.redis_window import RecentWindow


async def read_access(connection: HTTPConnection) -> None:
    """Who may read metrics. Open until user login lands; then this checks the session."""
    return None


def _settings(request: Request) -> BackendSettings:
    settings: BackendSettings = request.app.state.settings
    return settings


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _redis(request: Request) -> aioredis.Redis:
    client: aioredis.Redis = request.app.state.redis
    return client


def _window(request: Request) -> RecentWindow:
    window: RecentWindow = request.app.state.recent_window
    return window


def _metrics(request: Request) -> BackendMetrics:
    metrics: BackendMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[BackendSettings, Depends(_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
RedisDep = Annotated[aioredis.Redis, Depends(_redis)]
WindowDep = Annotated[RecentWindow, Depends(_window)]
MetricsDep = Annotated[BackendMetrics, Depends(_metrics)]
ReadAccess = Depends(read_access)

# Documented on every read route so the OpenAPI already shows the auth that is coming.
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated (once user login is enabled)."},
    422: {"description": "A query parameter is missing or invalid; `detail` names it."},
}
