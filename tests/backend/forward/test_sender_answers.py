"""The whole backend forwarding to a scripted receiver: the remote_write headers, a 400 that is
never retried, a 429 whose Retry-After is honoured, a 503 retried with backoff, the token read
from a file, and the self-metrics that count each case."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.forward.settings import ForwardSettings, ForwardTarget
from backend.forward.stats import ForwardStats
from tests.backend.forward.receiver import Receiver, running_receiver
from tests.backend.running import (
    AUTH,
    RunningBackend,
    agent_report,
    now_ms,
    running_services,
    serve,
    service_settings,
    wait_for,
)

pytestmark = pytest.mark.slow


def forward_settings(receiver: Receiver, **target: Any) -> ForwardSettings:
    return ForwardSettings(
        targets=[ForwardTarget(url=receiver.url, name="rx", min_backoff=0.05, **target)],
        flush_interval=0.05,
    )


def stats_of(backend: RunningBackend) -> ForwardStats:
    [stats] = running_services(backend).metrics.forward_stats
    return stats


async def post_report(client: httpx.AsyncClient, host: str, time_ms: int, seq: int = 1) -> int:
    """The number of samples the backend accepted."""
    response = await client.post(
        "/ingest/metrics", json=agent_report(host, time_ms=time_ms, seq=seq), headers=AUTH
    )
    assert response.status_code == 200, response.text
    samples: int = response.json()["samples"]
    return samples


async def test_headers_token_file_and_a_400_that_is_not_retried(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: object, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    async with running_receiver([(400, {})]) as receiver:
        forward = forward_settings(
            receiver, bearer_token_file=token_file, headers={"X-Scope-OrgID": "fleet"}
        )
        settings = service_settings(
            database_url, redis_url, redis_prefix, forward=forward, takeover_interval=0.2
        )
        async with serve(settings) as backend:
            stats = stats_of(backend)
            first_samples = await post_report(backend.client, "web-1", now_ms())

            async def refused() -> bool:
                return stats.failed_samples > 0

            await wait_for(refused, what="the 400 to be counted as failed")
            second_samples = await post_report(backend.client, "web-1", now_ms() + 1000, seq=2)

            async def sent() -> bool:
                return stats.sent_samples > 0

            await wait_for(sent, what="the next report to be sent")
            await asyncio.sleep(0.5)  # time enough for a (wrong) retry of the refused body
            metrics = (await backend.client.get("/metrics")).text
    first, second, *more = receiver.received
    assert more == [], "the body refused with 400 was sent again"
    assert first.series != second.series
    assert (stats.failed_samples, stats.sent_samples) == (first_samples, second_samples)
    assert stats.retried_samples == 0
    assert f'hostpulse_forward_failed_samples_total{{target="rx"}} {first_samples}.0' in metrics
    assert f'hostpulse_forward_sent_samples_total{{target="rx"}} {second_samples}.0' in metrics
    for request in receiver.received:
        assert request.headers["content-encoding"] == "snappy"
        assert request.headers["content-type"] == "application/x-protobuf"
        assert request.headers["x-prometheus-remote-write-version"] == "0.1.0"
        assert request.headers["user-agent"].startswith("HostPulse")
        assert request.headers["authorization"] == "Bearer s3cret-token"
        assert request.headers["x-scope-orgid"] == "fleet"


async def test_429_waits_for_retry_after_and_503_backs_off(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: object
) -> None:
    script = [(429, {"Retry-After": "2"}), (503, {}), (503, {})]
    async with running_receiver(script) as receiver:
        settings = service_settings(
            database_url,
            redis_url,
            redis_prefix,
            forward=forward_settings(receiver),
            takeover_interval=0.2,
        )
        async with serve(settings) as backend:
            stats = stats_of(backend)
            samples = await post_report(backend.client, "web-2", now_ms())

            async def sent() -> bool:
                return stats.sent_samples > 0

            await wait_for(sent, what="the report to get through")
    attempts = receiver.received
    assert len(attempts) == 4
    assert all(a.series == attempts[0].series for a in attempts), "a retry changed the body"
    waits = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    assert waits[0] >= 1.95, f"Retry-After: 2 not honoured (waited {waits[0]:.2f} s)"
    assert waits[0] < 3.5
    # min_backoff 0.05 s, doubled, jitter 0.5-1: 0.025-0.05 s then 0.05-0.1 s (+ request time)
    assert 0.02 <= waits[1] < 1.0
    assert 0.045 <= waits[2] < 1.0
    assert stats.retried_samples == 3 * samples
    assert (stats.sent_samples, stats.failed_samples) == (samples, 0)
