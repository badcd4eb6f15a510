"""`rate_limits:` settings: token buckets per agent token, per client IP on login, and per
username+IP for failed logins."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BucketSettings(BaseModel):
    """`capacity` requests at once, refilled at `per_second`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity: float = Field(gt=0)
    per_second: float = Field(gt=0)


class RateLimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # An agent reports every 2 s by default and catches up in batches after an outage.
    ingest_per_token: BucketSettings = BucketSettings(capacity=120, per_second=20)
    # Unauthenticated endpoints (login), per client IP.
    login_per_ip: BucketSettings = BucketSettings(capacity=20, per_second=1)
    # Drained only by failed logins: after 5 failures a name+IP gets one guess per 30 s.
    failed_login_per_user_ip: BucketSettings = BucketSettings(capacity=5, per_second=1 / 30)
    # Trust X-Forwarded-For from these proxy addresses only (exact client addresses).
    trusted_proxies: list[str] = Field(default_factory=list)
