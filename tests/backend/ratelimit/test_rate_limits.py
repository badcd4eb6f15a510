"""Rate limits through the shared Redis buckets: across two backend processes, on ingest (per agent
token) and on login (per client IP, and per user name + IP for failed attempts)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.backend.auth.support import PASSWORD, anonymous, make_user
from tests.backend.running import (
    AUTH,
    TOKEN,
    agent_report,
    backend_process,
    serve,
    service_settings,
)


async def burst(clients: list[httpx.AsyncClient], count: int, send: Any) -> list[httpx.Response]:
    """`count` requests at once, spread over the clients (one per backend process)."""
    return list(await asyncio.gather(*[send(clients[i % len(clients)], i) for i in range(count)]))


@pytest.mark.slow
async def test_bursts_across_two_processes_share_one_bucket(
    database_url: str, redis_url: str, redis_prefix: str, sync_cleanup_redis: None
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HOSTPULSE_REDIS_PREFIX": redis_prefix,
        "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": TOKEN,
        "HOSTPULSE_LOG_LEVEL": "warning",
        # Refill slow enough that the test's own duration adds less than one token.
        "HOSTPULSE_RATE_LIMITS__INGEST_PER_TOKEN__CAPACITY": "30",
        "HOSTPULSE_RATE_LIMITS__INGEST_PER_TOKEN__PER_SECOND": "0.05",
        "HOSTPULSE_RATE_LIMITS__LOGIN_PER_IP__CAPACITY": "4",
        "HOSTPULSE_RATE_LIMITS__LOGIN_PER_IP__PER_SECOND": "0.05",
    }
    async with (
        backend_process(env) as first,
        backend_process(env) as second,
        httpx.AsyncClient(base_url=first, timeout=20) as one,
        httpx.AsyncClient(base_url=second, timeout=20) as two,
    ):

        async def ingest(client: httpx.AsyncClient, i: int) -> httpx.Response:
            report = agent_report("burst-1", seq=i + 1)
            return await client.post("/ingest/metrics", json=report, headers=AUTH)

        # Under the limit: 20 of the 30 tokens, nothing refused.
        under = await burst([one, two], 20, ingest)
        assert [r.status_code for r in under] == [200] * 20
        # Over it: 10 tokens are left for 20 more requests, whichever process they hit.
        over = await burst([one, two], 20, ingest)
        statuses = [r.status_code for r in over]
        assert set(statuses) <= {200, 429}
        assert 10 <= statuses.count(200) <= 11  # 11: one token refilled during the test
        for refused in (r for r in over if r.status_code == 429):
            assert int(refused.headers["retry-after"]) >= 1
            assert "agent token" in refused.json()["detail"]

        async def log_in(client: httpx.AsyncClient, i: int) -> httpx.Response:
            body = {"username": f"guess-{i}", "password": "wrong password"}
            return await client.post("/api/auth/login", json=body)

        logins = await burst([one, two], 10, log_in)
        login_statuses = [r.status_code for r in logins]
        assert set(login_statuses) == {401, 429}
        assert 4 <= login_statuses.count(401) <= 5
        assert all(int(r.headers["retry-after"]) >= 1 for r in logins if r.status_code == 429)


async def test_failed_logins_slow_down_one_name_but_not_its_owner_elsewhere(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    await make_user(database_url, "vera", "viewer")
    await make_user(database_url, "otto", "viewer")
    settings = service_settings(
        database_url,
        redis_url,
        redis_prefix,
        rate_limits={"failed_login_per_user_ip": {"capacity": 3, "per_second": 0.01}},
    )
    async with serve(settings, log_in=False) as shared, anonymous(shared) as backend:
        client = backend.client

        async def log_in(name: str, password: str) -> httpx.Response:
            return await client.post(
                "/api/auth/login", json={"username": name, "password": password}
            )

        # Correct logins give their token back: logging in often never slows anyone down.
        for _ in range(5):
            assert (await log_in("vera", PASSWORD)).status_code == 200
        for _ in range(3):
            assert (await log_in("vera", "a wrong guess!")).status_code == 401
        blocked = await log_in("vera", PASSWORD)  # even the right password must wait now
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        # Another account from the same address is not affected.
        assert (await log_in("otto", PASSWORD)).status_code == 200
