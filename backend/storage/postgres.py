"""The asyncpg pool every backend component shares."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy


async def create_pool(dsn: str, **kw: Any) -> asyncpg.Pool:
    """A pool on `dsn`; keyword arguments go to `asyncpg.create_pool` (min_size, max_size, ...)."""
    options: dict[str, Any] = {"min_size": 1, "max_size": 10, "command_timeout": 60}
    options.update(kw)
    pool = await asyncpg.create_pool(dsn, **options)
    if pool is None:  # only when the pool is created without awaiting; kept for the type checker
        raise RuntimeError("asyncpg.create_pool returned no pool")
    return pool


# What `pool.acquire()` yields and what `asyncpg.connect()` returns: both work for every query.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
