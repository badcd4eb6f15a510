"""The backend's rate limits, built from `rate_limits:` settings over the shared Redis buckets.

If Redis is unreachable the limits fail open (with a warning): PostgreSQL is the record, and
ingest and login must keep working without the optional shared state. A check waits at most
`_REDIS_WAIT_SECONDS`, and after a failure Redis is skipped for `_SKIP_AFTER_FAILURE_SECONDS`, so
a dead Redis doesn't add its timeouts and retries to every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from fastapi import HTTPException
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from backend.ratelimit.settings import BucketSettings, RateLimitSettings
from backend.ratelimit.token_bucket import Decision, TokenBucketLimiter
from backend.round_trips import SharedRoundTrip

log = logging.getLogger(__name__)
_ALLOW = Decision(allowed=True, remaining=0.0, retry_after_seconds=0)
_REDIS_WAIT_SECONDS = 1.0
_SKIP_AFTER_FAILURE_SECONDS = 5.0
_MAX_LOCAL_ALLOWANCES = 10_000


class RedisOutage:
    """Shared by the buckets of one app: while Redis is failing, don't wait on it."""

    def __init__(self) -> None:
        self._skip_until = 0.0

    def skipping(self) -> bool:
        return time.monotonic() < self._skip_until

    def failed(self) -> None:
        self._skip_until = time.monotonic() + _SKIP_AFTER_FAILURE_SECONDS


@dataclass(slots=True)
class _Allowance:
    """Tokens this process may spend without asking Redis, until `until` (monotonic)."""

    tokens: float
    until: float
    spent: float = 0.0  # charged to the Redis bucket with the next take that asks


class Bucket:
    """One configured limiter; `take` never raises on a Redis failure.

    Where the bucket is far from empty, asking Redis for every request would cost more than the
    request: when Redis answers that at least `local_min_tokens` are left, this process may
    spend `local_share` of them for `local_seconds` without asking, and the next take that asks
    charges what it spent. Near empty every take asks Redis, so refusals stay exact; with N
    processes a bucket can at most be overdrawn by N shares of what was left."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        settings: BucketSettings,
        outage: RedisOutage | None = None,
        *,
        local_share: float = 0.1,
        local_min_tokens: float = 100.0,
        local_seconds: float = 1.0,
    ) -> None:
        self._limiter = TokenBucketLimiter(
            redis, prefix=prefix, capacity=settings.capacity, rate_per_second=settings.per_second
        )
        self._outage = outage or RedisOutage()
        self._takes = SharedRoundTrip(self._take_all, name="rate-limit-takes")
        self._local: dict[str, _Allowance] = {}
        self._local_share = local_share
        self._local_min = local_min_tokens
        self._local_seconds = local_seconds

    async def take(self, key: str, cost: float = 1.0) -> Decision:
        """Concurrent takes that ask Redis share one round trip (backend.round_trips)."""
        if self._outage.skipping():
            return _ALLOW
        now = time.monotonic()
        allowance = self._local.pop(key, None)
        if allowance is not None and now < allowance.until and 0 <= cost <= allowance.tokens:
            allowance.tokens -= cost
            allowance.spent += cost
            self._local[key] = allowance
            return Decision(allowed=True, remaining=allowance.tokens, retry_after_seconds=0)
        spent = allowance.spent if allowance is not None else 0.0
        (decision,) = await self._takes([(key, cost, spent)])
        if decision.allowed and decision.remaining >= self._local_min:
            if len(self._local) >= _MAX_LOCAL_ALLOWANCES:
                self._local.clear()  # (their spent tokens go uncharged: a bounded refund)
            share = decision.remaining * self._local_share
            previous = self._local.get(key)  # set meanwhile by a take that answered first
            self._local[key] = _Allowance(
                share,
                time.monotonic() + self._local_seconds,
                spent=previous.spent if previous is not None else 0.0,
            )
        return decision

    async def _take_all(self, takes: list[tuple[str, float, float]]) -> list[Decision]:
        if self._outage.skipping():
            return [_ALLOW] * len(takes)
        try:
            async with asyncio.timeout(_REDIS_WAIT_SECONDS):
                return await self._limiter.take_many(
                    [(key, cost) for key, cost, _ in takes], [spent for _, _, spent in takes]
                )
        except (TimeoutError, RedisError, OSError) as exc:
            self._outage.failed()
            log.warning("rate limits not enforced for a while, Redis failed: %r", exc)
            return [_ALLOW] * len(takes)

    async def refund(self, key: str) -> None:
        """Give one token back (a negative take), e.g. after a login that succeeded."""
        await self.take(key, cost=-1.0)


@dataclass(frozen=True, slots=True)
class RateLimiters:
    ingest_per_token: Bucket
    login_per_ip: Bucket
    failed_login: Bucket
    trusted_proxies: frozenset[str]
    enabled: bool


def build_rate_limiters(
    redis: aioredis.Redis, redis_prefix: str, settings: RateLimitSettings
) -> RateLimiters:
    outage = RedisOutage()
    return RateLimiters(
        ingest_per_token=Bucket(redis, redis_prefix + "ingest:", settings.ingest_per_token, outage),
        login_per_ip=Bucket(redis, redis_prefix + "login-ip:", settings.login_per_ip, outage),
        failed_login=Bucket(
            redis, redis_prefix + "login-fail:", settings.failed_login_per_user_ip, outage
        ),
        trusted_proxies=frozenset(settings.trusted_proxies),
        enabled=settings.enabled,
    )


def client_ip(connection: HTTPConnection, trusted_proxies: frozenset[str]) -> str:
    """The peer address; behind a trusted proxy, the right-most X-Forwarded-For hop that is
    not itself a trusted proxy."""
    peer = connection.client.host if connection.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in connection.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed(hops):
        if hop and hop not in trusted_proxies:
            return hop
    return peer


def failed_login_key(user_name: str, ip: str) -> str:
    # Hashed: the name is caller-supplied and must not shape Redis keys.
    return hashlib.sha256(f"{user_name.lower()}\0{ip}".encode()).hexdigest()


def too_many_requests(decision: Decision, what: str) -> HTTPException:
    return HTTPException(
        429,
        detail=f"too many {what}; retry in {decision.retry_after_seconds} s",
        headers={"Retry-After": str(decision.retry_after_seconds)},
    )


async def limit_ingest(limiters: RateLimiters, token_id: int) -> None:
    """429 with Retry-After when this agent token's bucket is empty."""
    if not limiters.enabled:
        return
    decision = await limiters.ingest_per_token.take(str(token_id))
    if not decision.allowed:
        raise too_many_requests(decision, "requests for this agent token")
