"""Storage tests: an asyncpg pool on the per-test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from backend.storage.postgres import create_pool


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()
