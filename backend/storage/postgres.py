"""The asyncpg pool every backend component shares."""

from __future__ import annotations

import asyncio
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


def stop_if_cancelled() -> None:
    """Call first in the `except Exception:` of a job that logs a failure and carries on.

    A task cancelled while a transaction is open (a COPY under way) may see asyncpg's rollback
    fail with InternalClientError ("another operation is in progress") instead of the
    CancelledError: a job that catches Exception would swallow its cancellation and run on,
    and the shutdown waiting for it would wait forever. This raises the cancellation again."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
