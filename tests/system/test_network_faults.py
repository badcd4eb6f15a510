"""A TCP proxy between agents and the backend adds latency, resets connections, then swallows
all traffic for the outage: the agents keep collecting on time, buffer, and deliver every report
exactly once when the path is back. Real agents and backend; the proxy is in the test."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from tests.system.support import (
    AgentProcess,
    BackendProcess,
    FaultyProxy,
    backend_env,
    outage_seconds,
    snapshot_times,
    token_file,
)

INTERVAL = 1.0


@pytest.mark.timeout(300)
async def test_agents_buffer_through_latency_resets_and_a_black_hole_and_deliver_everything(
    database_url: str, redis_url: str, redis_prefix: str, sync_cleanup_redis: None, tmp_path: Path
) -> None:
    backend = BackendProcess(
        backend_env(database_url, redis_url, redis_prefix), tmp_path / "backend.log"
    )
    await backend.start()
    proxy = FaultyProxy(backend.port)
    await proxy.start()
    token = token_file(tmp_path)
    agents = [
        AgentProcess(f"netfault-{n}", tmp_path / f"spool-{n}", tmp_path / f"agent-{n}.log")
        for n in range(2)
    ]
    try:
        for agent in agents:
            await agent.start(f"{proxy.url}/ingest/metrics", token, interval=f"{INTERVAL}s")
        await asyncio.sleep(4)
        proxy.mode = "latency"
        await asyncio.sleep(5)
        proxy.mode = "reset"
        await asyncio.sleep(5)
        proxy.mode = "blackhole"
        await asyncio.sleep(outage_seconds())
        proxy.mode = "pass"
        # Back: each agent's spool empties (the agents' backoff is capped at 2 s here).
        for agent in agents:
            for _ in range(300):
                if not list(agent.spool_dir.glob("0*.json")):
                    break
                await asyncio.sleep(0.2)
    finally:
        for agent in agents:
            await agent.stop()
        await proxy.stop()
        await backend.stop()

    for agent in agents:
        produced, unsent = agent.produced_and_unsent()
        assert unsent == 0, f"{agent.host}: {unsent} reports never delivered"
        times = sorted(await snapshot_times(database_url, agent.host))
        assert len(times) == len(set(times)) == produced, (
            f"{agent.host}: {produced} reports made, {len(times)} stored"
            f" ({len(set(times))} distinct): {agent.log()[-1500:]}"
        )
        # Collected on time all along: no gap between reports beyond a late tick.
        gaps = [(b - a) / 1000 for a, b in itertools.pairwise(times)]
        assert max(gaps) <= 3 * INTERVAL, f"{agent.host}: collection stalled {max(gaps):.1f}s"
        assert produced >= (14 + outage_seconds()) / INTERVAL * 0.8
