"""The backend SIGKILLed while three real agents push: every report lands exactly once.

Real processes throughout: the backend (`backend.cli serve`) on the shared PostgreSQL and Redis
(its own database and key prefix), three `hostpulse-exporter` agents with on-disk spools. The
backend is killed mid-stream (acknowledged reports must already be committed; claims it held
must be taken over), stays down for the outage, then starts again on the same port."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.system.support import (
    AgentProcess,
    BackendProcess,
    backend_env,
    outage_seconds,
    sample_times,
    snapshots_per_report,
    token_file,
)


@pytest.mark.timeout(300)
async def test_every_report_lands_exactly_once_across_a_sigkill(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    sync_cleanup_redis: None,
    tmp_path: Path,
) -> None:
    # A flush window (default 20 ms) longer than the agents' interval: whenever the kill comes,
    # reports are queued, not committed (without ack-after-commit this test fails every time).
    env = backend_env(database_url, redis_url, redis_prefix, HOSTPULSE_WRITER_FLUSH_INTERVAL="1.5s")
    backend = BackendProcess(env, log_path=tmp_path / "backend.log")
    token = token_file(tmp_path)
    agents = [
        AgentProcess(f"killed-{n}", tmp_path / f"spool-{n}", tmp_path / f"agent-{n}.log")
        for n in range(3)
    ]
    try:
        await backend.start()
        for agent in agents:
            await agent.start(f"{backend.url}/ingest/metrics", token)
        await asyncio.sleep(6)  # several reports each delivered before the kill
        await backend.kill()
        await asyncio.sleep(outage_seconds())
        await backend.start()
        await asyncio.sleep(6)  # the agents resend what they buffered
    finally:
        for agent in agents:
            await agent.stop()
        await backend.stop()

    for agent in agents:
        produced, unsent = agent.produced_and_unsent()
        assert produced >= 8, f"{agent.host} made only {produced} reports: {agent.log()[-1500:]}"
        assert unsent == 0, f"{agent.host} still has {unsent} reports spooled"
        stored, distinct = await snapshots_per_report(database_url, agent.host)
        assert (stored, distinct) == (produced, produced), (
            f"{agent.host}: {produced} reports made, {stored} process tables stored for"
            f" {distinct} report times (backend log: {backend.log_tail()})"
        )
        assert await sample_times(database_url, agent.host, "system_memory_usage_bytes") == produced
