"""The client address behind proxies, and limits that fail open when Redis is down."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from starlette.requests import HTTPConnection

from backend.ratelimit.limiters import Bucket, client_ip, failed_login_key
from backend.ratelimit.settings import BucketSettings
from tests.conftest import free_port, redis_commands_sent

PROXY = frozenset({"10.0.0.2"})


def connection(peer: str, forwarded: str | None = None) -> HTTPConnection:
    headers: list[tuple[bytes, bytes]] = []
    if forwarded is not None:
        headers.append((b"x-forwarded-for", forwarded.encode()))
    scope: dict[str, Any] = {"type": "http", "client": (peer, 5000), "headers": headers}
    return HTTPConnection(scope)


def test_the_peer_address_is_used_unless_it_is_a_trusted_proxy() -> None:
    # A client can't pick its own bucket by sending X-Forwarded-For.
    assert client_ip(connection("203.0.113.9", "198.51.100.1"), PROXY) == "203.0.113.9"
    assert client_ip(connection("10.0.0.2", "198.51.100.1"), PROXY) == "198.51.100.1"
    # Only the hop the trusted proxy added counts, not what the client prepended.
    assert client_ip(connection("10.0.0.2", "1.2.3.4, 198.51.100.1"), PROXY) == "198.51.100.1"
    assert client_ip(connection("10.0.0.2"), PROXY) == "10.0.0.2"


def test_failed_login_keys_ignore_name_case_and_separate_addresses() -> None:
    assert failed_login_key("Vera", "1.2.3.4") == failed_login_key("vera", "1.2.3.4")
    assert failed_login_key("vera", "1.2.3.4") != failed_login_key("vera", "1.2.3.5")


async def test_limits_fail_open_when_redis_is_unreachable() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    try:
        bucket = Bucket(dead, "hp_test:", BucketSettings(capacity=1, per_second=1))
        started = time.monotonic()
        for _ in range(3):
            assert (await bucket.take("k")).allowed
        # The first check waits at most ~1 s; the next ones skip the dead server.
        assert time.monotonic() - started < 5
    finally:
        await dead.aclose()


async def test_a_full_bucket_is_drawn_on_locally_and_charged_on_the_next_ask(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    settings = BucketSettings(capacity=10_000, per_second=0.001)
    bucket = Bucket(redis_client, redis_prefix, settings, local_seconds=0.3)
    with redis_commands_sent(redis_client) as asked:
        decisions = [await bucket.take("agent-7") for _ in range(500)]
    assert all(d.allowed for d in decisions)
    assert len(asked) < 10  # ~1,000 tokens may be spent per ask: 500 takes need one or two
    await asyncio.sleep(0.35)  # the allowance lapses: the next take asks and pays what was spent
    after = await bucket.take("agent-7")
    assert after.remaining == pytest.approx(10_000 - 501, abs=1)


async def test_a_nearly_empty_bucket_asks_redis_every_time(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    bucket = Bucket(redis_client, redis_prefix, BucketSettings(capacity=150, per_second=0.001))
    decisions = [await bucket.take("agent-8") for _ in range(160)]
    # Locally at most a tenth of what was left, and never below 100 left: exactly 150 pass.
    assert sum(d.allowed for d in decisions) == 150
    assert not decisions[-1].allowed
