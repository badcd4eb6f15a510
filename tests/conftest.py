"""Fixtures shared by every test package: free ports, external programs, and real PostgreSQL and
Redis (a fresh database and Redis key prefix per test)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import cast

import asyncpg
import pytest
import redis.asyncio as aioredis

# The container images, built once per session for tests/images and tests/k8s alike.
from tests.images.fixtures import base_image, hostpulse_images, podman_env  # noqa: F401

ADMIN_DSN = os.environ.get("HOSTPULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HOSTPULSE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_program(name: str) -> str:
    """Path of an external program; skip without it, except in CI where a missing one fails."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def unused_port() -> Callable[[], int]:
    return free_port


def _dsn_for(database: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


@pytest.fixture
async def empty_database_url() -> AsyncIterator[str]:
    """A brand-new, empty database, dropped after the test."""
    name = f"hp_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _dsn_for(name)
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def database_url(empty_database_url: str) -> str:
    """A fresh database with every migration applied."""
    from backend.storage.migrations import migrate_database

    await migrate_database(empty_database_url)
    return empty_database_url


@pytest.fixture
def redis_prefix() -> str:
    return f"hp_test_{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
async def redis_client(redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{redis_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def sync_cleanup_redis(redis_prefix: str) -> Iterator[None]:
    """For tests that run backends in subprocesses: remove the prefix's keys afterwards."""
    yield
    import redis as sync_redis

    client = sync_redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{redis_prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@contextlib.contextmanager
def redis_commands_sent(client: aioredis.Redis) -> Iterator[list[object]]:
    """The name of each command `client` sends inside the block (a spy on the real client):
    for tests that count round trips."""
    sent: list[object] = []
    original = client.execute_command
    execute = cast(Callable[..., Awaitable[object]], original)

    async def counting(*args: object, **options: object) -> object:
        sent.append(args[0])
        return await execute(*args, **options)

    client.execute_command = counting  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        client.execute_command = original  # type: ignore[method-assign]
