"""Jobs that must run in one backend process at a time, however many workers and replicas run.

Each such job is guarded by a PostgreSQL session advisory lock, held on a connection of its own:
the process whose connection holds the lock runs the job; the others retry now and then. When
the holder stops or dies its connection closes and PostgreSQL frees the lock, so another process
takes over within `retry_interval`; a holder that loses its connection stops the job at once.
Locks are per database, so test databases on one server never see each other's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from backend.storage.postgres import stop_if_cancelled

log = logging.getLogger(__name__)

_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"


class Leadership:
    """Whether this process holds one named lock; read by the self-metrics."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.held = False


async def run_as_the_only_one(
    database_url: str,
    leadership: Leadership,
    job: Callable[[], Awaitable[None]],
    *,
    retry_interval: float = 2.0,
) -> None:
    """Forever: take the lock `hostpulse:<name>` when free, and run `job` while holding it.

    `job` is started afresh after each takeover; it is cancelled when the lock's connection is
    lost. A job that returns or fails is started again after `retry_interval` (the lock is kept).
    """
    key = f"hostpulse:{leadership.name}"
    while True:
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(database_url)
            while True:
                if not await connection.fetchval(_TRY_LOCK, key):
                    await asyncio.sleep(retry_interval)
                    continue
                leadership.held = True
                log.info("this process now runs %s", leadership.name)
                await _run_while_connected(connection, job, retry_interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # PostgreSQL away: try again later, without the lock
            stop_if_cancelled()
            log.warning("%s: lock connection failed (%s); retrying", leadership.name, exc)
        finally:
            leadership.held = False
            if connection is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))
        await asyncio.sleep(retry_interval)


async def _run_while_connected(
    connection: asyncpg.Connection, job: Callable[[], Awaitable[None]], check_interval: float
) -> None:
    """Run `job` (again after `check_interval` when it ends) while `connection` answers; raise
    when it does not (the lock is gone with it)."""
    while True:
        task = asyncio.ensure_future(job())
        try:
            while not task.done():
                await asyncio.wait([task], timeout=check_interval)
                await connection.fetchval("SELECT 1", timeout=check_interval * 2 + 5)
            if not task.cancelled() and task.exception() is not None:
                log.error("job failed; restarting it", exc_info=task.exception())
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(check_interval)
