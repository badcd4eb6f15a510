"""IngestPipeline: PostgreSQL first, Redis best-effort, concurrent requests share round trips."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from backend.model import IngestBatch, Overloaded, Sample
from backend.pipeline import IngestPipeline, NotCommitted
from backend.self_metrics import BackendMetrics


@dataclass
class FakeWriter:
    full: bool = False
    batches: list[IngestBatch] = field(default_factory=list)
    commits: list[asyncio.Future[None]] = field(default_factory=list)
    commit_at_once: bool = True

    def enqueue(self, batch: IngestBatch) -> asyncio.Future[None]:
        if self.full:
            raise Overloaded(2)
        self.batches.append(batch)
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.commit_at_once:
            committed.set_result(None)
        self.commits.append(committed)
        return committed


@dataclass
class FakeRedisSide:
    """Stands in for the recent window and live channels; slow enough that requests pile up."""

    down: bool = False
    calls: list[list[float]] = field(default_factory=list)

    async def add(self, batch: IngestBatch) -> None:
        await asyncio.sleep(0.01)
        if self.down:
            raise RedisConnectionError("connection refused")
        self.calls.append([s.value for s in batch.samples])


def batch(value: float) -> IngestBatch:
    return IngestBatch("json", [Sample("h", "m", {}, 1000, value)])


def pipeline(
    writer: FakeWriter, redis: FakeRedisSide, pause: float = 0.2
) -> tuple[IngestPipeline, BackendMetrics]:
    metrics = BackendMetrics()
    return IngestPipeline(writer, redis, metrics, redis_retry_pause=pause), metrics


async def test_concurrent_batches_share_redis_round_trips_in_order() -> None:
    writer, redis = FakeWriter(), FakeRedisSide()
    pipe, _ = pipeline(writer, redis)
    await asyncio.gather(*(pipe.accept(batch(float(i))) for i in range(20)))
    assert len(writer.batches) == 20
    assert [v for call in redis.calls for v in call] == [float(i) for i in range(20)]
    assert len(redis.calls) < 20  # the first goes alone, the rest ride together


async def test_overloaded_writer_refuses_before_anything_reaches_redis() -> None:
    writer, redis = FakeWriter(full=True), FakeRedisSide()
    with pytest.raises(Overloaded):
        await pipeline(writer, redis)[0].accept(batch(1.0))
    assert redis.calls == []


async def test_redis_outage_keeps_accepting_then_resumes_by_itself() -> None:
    writer, redis = FakeWriter(), FakeRedisSide(down=True)
    pipe, metrics = pipeline(writer, redis, pause=0.2)
    await pipe.accept(batch(1.0))  # fails inside; the caller is not bothered
    await pipe.accept(batch(2.0))  # skipped without waiting on Redis during the pause
    assert len(writer.batches) == 2
    skipped = "hostpulse_ingest_redis_skipped_batches_total"
    assert metrics.registry.get_sample_value(skipped) == 2  # what an operator sees
    redis.down = False
    await asyncio.sleep(0.25)
    await pipe.accept(batch(3.0))
    assert redis.calls == [[3.0]]


async def test_accept_returns_only_once_the_batch_is_committed() -> None:
    """The sender is told "stored" only for what PostgreSQL holds (a killed backend must not
    have acknowledged anything still in its queue); too slow a commit is a 503 to retry."""
    writer = FakeWriter(commit_at_once=False)
    pipeline = IngestPipeline(writer, FakeRedisSide(), BackendMetrics(), commit_timeout=0.3)
    answer = asyncio.create_task(pipeline.accept(batch(1.0)))
    await asyncio.sleep(0.1)
    assert not answer.done()  # queued and published, but not committed yet
    writer.commits[0].set_result(None)
    await asyncio.wait_for(answer, 1)

    late = asyncio.create_task(pipeline.accept(batch(2.0)))
    with pytest.raises(NotCommitted) as caught:
        await asyncio.wait_for(late, 5)
    assert caught.value.retry_after_seconds == 1
    assert caught.value.committed is writer.commits[1]  # still queued: written later
