"""PostgreSQL stopped during ingest: every acknowledged report is stored, the backend answers
503 with Retry-After meanwhile and recovers by itself.

A throw-away cluster of the test's own (tests/system/support.py) is stopped with `pg_ctl -m fast`
(connections cut, as in a crash or failover) under a backend process that is left alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.system.support import (
    BackendProcess,
    Pusher,
    backend_env,
    outage_seconds,
    snapshots_per_report,
    throwaway_postgres,
)


@pytest.mark.timeout(300)
async def test_acknowledged_reports_survive_a_postgres_outage(
    redis_url: str, redis_prefix: str, sync_cleanup_redis: None, tmp_path: Path
) -> None:
    with throwaway_postgres() as postgres:
        backend = BackendProcess(
            backend_env(postgres.url, redis_url, redis_prefix), tmp_path / "backend.log"
        )
        await backend.start()
        try:
            async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
                pushers = [Pusher(client, f"pg-outage-{n}", f"i-pg-{n}") for n in range(3)]
                stop = asyncio.Event()
                running = [asyncio.create_task(p.run(stop)) for p in pushers]
                await asyncio.sleep(3)
                acked_before = sum(len(p.acked) for p in pushers)
                await asyncio.to_thread(postgres.stop)
                await asyncio.sleep(outage_seconds())
                during = [s for p in pushers for s in p.statuses[len(p.acked) :]]
                await asyncio.to_thread(postgres.start)
                restarted = sum(len(p.acked) for p in pushers)
                deadline = asyncio.get_running_loop().time() + 60
                while sum(len(p.acked) for p in pushers) < restarted + 15:
                    assert asyncio.get_running_loop().time() < deadline, (
                        f"no recovery within 60s of PostgreSQL's restart: {backend.log_tail()}"
                    )
                    await asyncio.sleep(0.2)
                stop.set()
                await asyncio.wait_for(asyncio.gather(*running), 60)
        finally:
            await backend.stop()

        assert acked_before > 0
        refusals = [s for p in pushers for s in p.statuses if s != 200]
        assert refusals, f"no refusal during the outage: {during}"
        assert set(refusals) == {503}, f"during the outage: {during}"
        retry_afters = [r for p in pushers for r in p.retry_afters]
        assert retry_afters
        assert all(r.isdigit() and int(r) >= 1 for r in retry_afters)
        for pusher in pushers:
            stored, distinct = await snapshots_per_report(postgres.url, pusher.host)
            assert (stored, distinct) == (len(pusher.acked), len(pusher.acked)), (
                f"{pusher.host}: {len(pusher.acked)} acknowledged, {stored} stored"
            )
