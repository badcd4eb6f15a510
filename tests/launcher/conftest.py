"""A fresh, migrated PostgreSQL database per test (on the machine's server), dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from backend.storage.migrations import migrate_database

ADMIN_DSN = os.environ.get("HOSTPULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    name = f"hp_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    try:
        await migrate_database(url)
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield created
    finally:
        await created.close()
