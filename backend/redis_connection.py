"""The one way the backend opens a Redis client, so every connection is configured alike."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis


def connect_redis(url: str, **options: Any) -> aioredis.Redis:
    """A client for `url` speaking RESP2. redis-py defaults to RESP3, where it renders every
    pub/sub message into a debug log string even with debug logging off; on the live channel that
    cost more CPU than the subscribers' own work. RESP2 carries the same replies."""
    return aioredis.Redis.from_url(url, protocol=2, **options)
