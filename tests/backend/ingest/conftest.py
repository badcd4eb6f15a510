"""Fixtures for the ingest tests: the harness app (real PostgreSQL and Redis, fake pipeline)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from backend.auth.agent_tokens import create_token
from backend.settings import BackendSettings
from tests.backend.ingest.ingest_support import (
    BOOTSTRAP_TOKEN,
    IngestHarness,
    RecordingPipeline,
    build_app,
    document,
)


@pytest.fixture
async def harness(
    database_url: str, redis_client: aioredis.Redis, redis_prefix: str
) -> AsyncIterator[IngestHarness]:
    settings = BackendSettings(
        database_url=database_url,
        redis_prefix=redis_prefix,
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    pipeline = RecordingPipeline()
    app = build_app(settings, pool, redis_client, pipeline)
    _, token = await create_token(pool, "test agent")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
        yield IngestHarness(app, client, pipeline, pool, token)
    await pool.close()


@pytest.fixture
def make_document() -> Any:
    return document


@pytest.fixture
async def light_harness(
    redis_client: aioredis.Redis, redis_prefix: str
) -> AsyncIterator[IngestHarness]:
    """No database: only the bootstrap token authenticates (its check never reaches PostgreSQL)."""
    settings = BackendSettings(
        database_url="postgresql://unused@127.0.0.1:1/unused",
        redis_prefix=redis_prefix,
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
    )
    pipeline = RecordingPipeline()
    app = build_app(settings, None, redis_client, pipeline)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
        yield IngestHarness(app, client, pipeline, None, BOOTSTRAP_TOKEN)
