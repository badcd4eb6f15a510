"""Forwarding, started with the other services: each process's outbox, and for each target a
sender that runs in exactly one process (the holder of the lock `hostpulse:forward:<name>`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
import httpx

from backend.forward.encode import TargetEncoder
from backend.forward.outbox import Outbox
from backend.forward.sender import Sender
from backend.forward.settings import ForwardSettings
from backend.forward.stats import ForwardStats
from backend.leadership import Leadership, run_as_the_only_one

log = logging.getLogger(__name__)


async def start_forwarding(
    stack: contextlib.AsyncExitStack,
    settings: ForwardSettings,
    database_url: str,
    pool: asyncpg.Pool,
    takeover_interval: float,
) -> tuple[Outbox, list[ForwardStats]]:
    """The outbox ingest offers to, and the per-target figures; everything stops with `stack`
    (the outbox flushing what it holds first)."""
    stats = [ForwardStats(target.name) for target in settings.targets]
    outbox = Outbox(
        pool,
        [TargetEncoder(target) for target in settings.targets],
        stats,
        max_samples=settings.outbox_max_samples,
    )
    client = httpx.AsyncClient(follow_redirects=False)
    stack.push_async_callback(client.aclose)
    tasks = [asyncio.create_task(outbox.flush_forever(settings.flush_interval), name="forward")]
    for target, target_stats in zip(settings.targets, stats, strict=True):
        sender = Sender(target, pool, client, target_stats)
        job = run_as_the_only_one(
            database_url,
            Leadership(f"forward:{target.name}"),
            sender.send_forever,
            retry_interval=takeover_interval,
        )
        tasks.append(asyncio.create_task(job, name=f"forward:{target.name}"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await outbox.flush()
        except Exception as exc:
            log.warning(
                "forwarding: %d samples not queued at shutdown (%s)", outbox.held_samples, exc
            )

    stack.push_async_callback(stop)
    return outbox, stats
