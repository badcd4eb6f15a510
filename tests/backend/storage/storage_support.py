"""Small sample builders shared by the storage tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from backend.model import IngestBatch, Sample


def now_ms() -> int:
    return int(time.time() * 1000)


def batch_of(*samples: Sample) -> IngestBatch:
    return IngestBatch(protocol="json", samples=list(samples))


def sample(
    value: float,
    time_ms: int,
    *,
    name: str = "system_cpu_utilization_ratio",
    host: str = "web-1",
    labels: Mapping[str, str] | None = None,
) -> Sample:
    return Sample(host, name, dict(labels or {}), time_ms, value)


async def wait_until(condition: Callable[[], bool], within: float = 30, what: str = "") -> None:
    """Poll `condition` until true; fail after `within` seconds (no fixed sleeps in tests)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or condition}")
        await asyncio.sleep(0.02)
