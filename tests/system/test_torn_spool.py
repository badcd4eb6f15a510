"""The agent's spool with a torn and a corrupt tail: the agent starts, keeps and delivers every
whole record, and counts (hostpulse.agent.reports.dropped) and logs what it dropped.

A real agent spools while the backend is away, is SIGKILLed, its newest report files are
damaged as a crash or a failing disk would leave them, then it starts against a real backend."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import free_port
from tests.system.support import (
    AgentProcess,
    BackendProcess,
    backend_env,
    snapshot_times,
    token_file,
)


async def dropped_reported(database_url: str, host: str) -> float:
    """The largest `reports.dropped` the agent reported about itself."""
    conn = await asyncpg.connect(database_url)
    try:
        value = await conn.fetchval(
            "SELECT max(s.value) FROM samples s JOIN series r ON r.id = s.series_id"
            " WHERE r.host = $1 AND r.metric LIKE 'hostpulse_agent_reports_dropped%'",
            host,
        )
    finally:
        await conn.close()
    return float(value or 0)


@pytest.mark.timeout(240)
async def test_an_agent_starts_on_a_torn_spool_and_delivers_every_whole_report(
    database_url: str, redis_url: str, redis_prefix: str, sync_cleanup_redis: None, tmp_path: Path
) -> None:
    token = token_file(tmp_path)
    agent = AgentProcess("torn-spool", tmp_path / "spool", tmp_path / "agent.log")
    await agent.start(f"http://127.0.0.1:{free_port()}/ingest/metrics", token)  # nobody there
    for _ in range(300):
        if len(list(agent.spool_dir.glob("0*.json"))) >= 6:
            break
        await asyncio.sleep(0.1)
    assert agent.process is not None
    agent.process.send_signal(signal.SIGKILL)
    await agent.process.wait()

    files = sorted(agent.spool_dir.glob("0*.json"))
    assert len(files) >= 6, agent.log()[-1500:]
    newest, second = files[-1], files[-2]
    newest.write_bytes(newest.read_bytes()[: len(newest.read_bytes()) // 2])  # torn write
    second.write_bytes(b"\x00" * 64)  # a block of zeros, as after a crash on some filesystems
    (agent.spool_dir / f".{newest.name}.tmp").write_bytes(b'{"seq": 9')  # half a next write
    whole = len(files) - 2

    backend = BackendProcess(
        backend_env(database_url, redis_url, redis_prefix), tmp_path / "backend.log"
    )
    await backend.start()
    try:
        await agent.start(f"{backend.url}/ingest/metrics", token)
        for _ in range(300):
            if (
                not list(agent.spool_dir.glob("0*.json"))
                and len(await snapshot_times(database_url, agent.host)) >= whole + 2
            ):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # a report carrying the dropped count after the restart
    finally:
        await agent.stop()
        await backend.stop()

    produced, unsent = agent.produced_and_unsent()
    assert unsent == 0
    times = await snapshot_times(database_url, agent.host)
    assert len(times) == len(set(times)) == produced - 2, agent.log()[-2000:]
    log = agent.log()
    assert log.count("skipping a corrupt spool file") == 2
    assert "dropped unreadable spool files" in log
    assert len(list(agent.spool_dir.glob("*.corrupt"))) == 2
    assert await dropped_reported(database_url, agent.host) == 2
