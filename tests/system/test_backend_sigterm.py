"""SIGTERM of the backend under load: requests in flight are answered, queued batches are
written, the process exits within its configured deadline, nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.backend.running import agent_report
from tests.system.support import AUTH, BackendProcess, backend_env, snapshot_times

SHUTDOWN_TIMEOUT = 5.0
SENDERS = 8


@pytest.mark.timeout(240)
async def test_sigterm_under_load_answers_in_flight_requests_and_loses_nothing_acknowledged(
    database_url: str, redis_url: str, redis_prefix: str, sync_cleanup_redis: None, tmp_path: Path
) -> None:
    env = backend_env(
        database_url,
        redis_url,
        redis_prefix,
        HOSTPULSE_SHUTDOWN_TIMEOUT=f"{SHUTDOWN_TIMEOUT}s",
        # The senders share one agent token: its rate limit would answer most of them 429.
        HOSTPULSE_RATE_LIMITS__ENABLED="false",
    )
    backend = BackendProcess(env, tmp_path / "backend.log")
    await backend.start()
    acked: dict[str, list[int]] = {f"term-{n}": [] for n in range(SENDERS)}
    outcomes: Counter[str] = Counter()
    terminated = asyncio.Event()

    async def send(host: str) -> None:
        # A connection per request: a refused connection is then never a request in flight.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=backend.url, timeout=30, limits=limits) as client:
            seq = 0
            # No new request once SIGTERM is on its way: one connecting as the listener closes
            # would sit unaccepted in the kernel's backlog and be reset, never having been in
            # flight in the backend. Each sender's request already in flight runs to its answer.
            while not terminated.is_set():
                seq += 1
                at = int(time.time() * 1000)
                body = agent_report(host, seq=seq, instance=f"i-{host}", time_ms=at)
                try:
                    answer = await client.post("/ingest/metrics", json=body, headers=AUTH)
                except httpx.ConnectError:
                    outcomes["refused"] += 1  # the listener is closed: not in flight
                    if terminated.is_set():
                        return
                    continue
                except httpx.TransportError as exc:
                    outcomes[f"unanswered {type(exc).__name__}"] += 1
                    if terminated.is_set():
                        return
                    continue
                outcomes[str(answer.status_code)] += 1
                if answer.status_code == 200:
                    acked[host].append(at)

    senders = [asyncio.create_task(send(host)) for host in acked]
    # A client that announced a body and stalls sending it: the shutdown must not wait for it
    # past its deadline.
    _, stalled = await asyncio.open_connection("127.0.0.1", backend.port)
    stalled.write(
        b"POST /ingest/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: " + AUTH["Authorization"].encode() + b"\r\n"
        b"Content-Length: 100000\r\n\r\n{"
    )
    await stalled.drain()
    try:
        await asyncio.sleep(4)
        assert outcomes["200"] > 0, f"no report accepted before SIGTERM: {outcomes}"
        terminated.set()
        took = await backend.terminate(within=2 * SHUTDOWN_TIMEOUT + 10)
        await asyncio.wait_for(asyncio.gather(*senders), 60)
    finally:
        for task in senders:
            task.cancel()
        stalled.close()
        await backend.stop()

    # Requests get up to shutdown_timeout to finish, then the writer as long to flush.
    assert took <= 2 * SHUTDOWN_TIMEOUT + 3, f"exit took {took:.1f}s"
    assert not [k for k in outcomes if k.startswith("unanswered")], outcomes
    assert set(outcomes) <= {"200", "503", "refused"}, outcomes
    for host, times in acked.items():
        stored = Counter(await snapshot_times(database_url, host))
        assert all(count == 1 for count in stored.values()), f"{host} stored twice: {stored}"
        missing = [t for t in times if t not in stored]
        assert not missing, f"{host}: {len(missing)} acknowledged reports not stored"
