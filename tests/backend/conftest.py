"""Fixtures every backend test package may use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.backend.running import RunningBackend, serve, service_settings


@pytest.fixture
async def backend(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> AsyncIterator[RunningBackend]:
    """The whole backend (lifespan and all) on a fresh database and Redis prefix."""
    async with serve(service_settings(database_url, redis_url, redis_prefix)) as running:
        yield running
