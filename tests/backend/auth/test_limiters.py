"""The client address behind proxies, and limits that fail open when Redis is down."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import HTTPConnection

from backend.ratelimit.limiters import Bucket, client_ip, failed_login_key
from backend.ratelimit.settings import BucketSettings
from tests.conftest import free_port

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
