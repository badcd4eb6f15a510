"""IngestPipeline: PostgreSQL first, Redis best-effort, concurrent requests share round trips."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from backend.model import IngestBatch, Overloaded, Sample
from backend.pipeline import IngestPipeline
from backend.self_metrics import BackendMetrics


@dataclass
class FakeWriter:
    full: bool = False
    batches: list[IngestBatch] = field(default_factory=list)

    def enqueue(self, batch: IngestBatch) -> None:
        if self.full:
            raise Overloaded(2)
        self.batches.append(batch)


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
