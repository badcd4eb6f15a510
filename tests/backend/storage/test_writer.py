"""SampleWriter: writes exactly what was enqueued, pushes back when full, retries, never drops."""

from __future__ import annotations

import asyncio
import math
import time
from typing import cast

import asyncpg
import numpy as np
import orjson
import pytest

from backend.model import (
    IngestBatch,
    InvalidSample,
    Overloaded,
    ProcessSnapshot,
    Sample,
    as_columns,
)
from backend.storage.sample_merge import value_order
from backend.storage.writer import SampleWriter
from tests.backend.storage.storage_support import batch_of, now_ms, sample, wait_until

NASTY_LABELS = [
    {"cpu": "0", "mode": "user"},
    {"path": "C:\\temp\\'x'; DROP TABLE samples; --"},
    {"naïve": '日本語 ✓ "quoted" $1 %s {}', "emoji": "🚀"},
    {"empty": ""},
    {},
]


async def _stored(pool: asyncpg.Pool) -> list[tuple[str, str, dict[str, str], int, float]]:
    rows = await pool.fetch(
        """
        SELECT s.metric, s.host, s.labels::text AS labels,
               (extract(epoch FROM x.time) * 1000)::bigint AS time_ms, x.value
        FROM samples x JOIN series s ON s.id = x.series_id
        """
    )
    return [
        (r["metric"], r["host"], orjson.loads(r["labels"]), r["time_ms"], r["value"]) for r in rows
    ]


def _key(row: tuple[str, str, dict[str, str], int, float]) -> str:
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode()


async def test_writes_exactly_what_was_enqueued_with_labels_verbatim(pool: asyncpg.Pool) -> None:
    writer = SampleWriter(pool, max_queue_samples=10_000, batch_samples=7, flush_interval=0.05)
    await writer.start()
    start = now_ms()
    expected = []
    for step in range(10):
        batch = [
            sample(step * 10 + i, start + step * 1000, host=host, labels=labels)
            for i, labels in enumerate(NASTY_LABELS)
            for host in ("web-1", 'db \' "2"')
        ]
        writer.enqueue(batch_of(*batch))
        expected += [(s.name, s.host, dict(s.labels), s.time_ms, float(s.value)) for s in batch]
    await writer.stop(timeout=30)

    stored = await _stored(pool)
    assert sorted(map(_key, stored)) == sorted(map(_key, expected))
    assert writer.written_samples == len(expected) == 100
    assert writer.queue_depth == 0
    assert await pool.fetchval("SELECT count(*) FROM series") == len(NASTY_LABELS) * 2


async def test_the_same_labels_in_any_order_are_one_series(pool: asyncpg.Pool) -> None:
    writer = SampleWriter(pool, flush_interval=0.05)
    await writer.start()
    t = now_ms()
    writer.enqueue(batch_of(sample(1, t, labels={"a": "1", "b": "2"})))
    writer.enqueue(batch_of(sample(2, t + 1, labels={"b": "2", "a": "1"})))
    await writer.stop(timeout=30)

    assert await pool.fetchval("SELECT count(*) FROM series") == 1
    assert await pool.fetchval("SELECT count(*) FROM samples") == 2


async def test_process_snapshots_are_stored_verbatim(pool: asyncpg.Pool) -> None:
    processes = [
        {"pid": 1, "name": "postgres: 'x'; --", "cpu": 0.5},
        {"pid": 2, "name": "日本語 🚀", "cpu": None},
    ]
    writer = SampleWriter(pool, flush_interval=0.05)
    await writer.start()
    t = now_ms()
    writer.enqueue(IngestBatch("json", [], [ProcessSnapshot("web-1", t, processes)]))
    await writer.stop(timeout=30)

    row = await pool.fetchrow("SELECT host, processes::text AS p FROM process_snapshots")
    assert row is not None
    assert (row["host"], orjson.loads(row["p"])) == ("web-1", processes)


# A writer that is never started touches no database.
NOT_STARTED = cast(asyncpg.Pool, None)


async def test_a_full_queue_raises_overloaded_with_a_retry_hint() -> None:
    writer = SampleWriter(NOT_STARTED, max_queue_samples=100, batch_samples=50)
    t = now_ms()
    sixty = batch_of(*(sample(i, t + i) for i in range(60)))
    writer.enqueue(sixty)

    with pytest.raises(Overloaded) as raised:
        writer.enqueue(sixty)

    assert raised.value.retry_after_seconds >= 1
    assert writer.queue_depth == 60
    await asyncio.sleep(0.01)
    assert writer.lag_seconds > 0


async def test_an_empty_queue_accepts_a_batch_larger_than_its_bound(pool: asyncpg.Pool) -> None:
    writer = SampleWriter(pool, max_queue_samples=10, flush_interval=0.05)
    await writer.start()
    writer.enqueue(batch_of(*(sample(i, now_ms() + i) for i in range(25))))
    await writer.stop(timeout=30)
    assert await pool.fetchval("SELECT count(*) FROM samples") == 25


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (sample(1, 0, labels={"k": "a\x00b"}), "label 'k'"),
        (sample(1, 0, name="cpu\x00"), "metric name"),
        (sample(1, -5), "outside 1970"),
        (sample(1, 0, host="h\ud800"), "host .*lone surrogate"),
        (sample(1, 0, name="m" * 1_025), "metric name is 1025 bytes"),
        (sample("abc", 0), "not storable"),  # type: ignore[arg-type]
    ],
)
async def test_unstorable_samples_are_refused_at_enqueue(bad: Sample, message: str) -> None:
    writer = SampleWriter(NOT_STARTED)
    good = sample(1, now_ms())
    with pytest.raises(InvalidSample, match=message):
        writer.enqueue(batch_of(good, bad))
    assert writer.queue_depth == 0


async def test_stop_flushes_without_waiting_for_the_flush_interval(pool: asyncpg.Pool) -> None:
    writer = SampleWriter(pool, batch_samples=1_000, flush_interval=3_600)
    await writer.start()
    writer.enqueue(batch_of(sample(1, now_ms())))
    started = time.monotonic()
    await writer.stop(timeout=30)
    assert time.monotonic() - started < 30
    assert await pool.fetchval("SELECT count(*) FROM samples") == 1


async def test_a_failing_write_is_retried_until_it_succeeds(pool: asyncpg.Pool) -> None:
    await pool.execute("ALTER TABLE samples RENAME TO samples_away")
    writer = SampleWriter(pool, flush_interval=0.01, retry_initial_seconds=0.02)
    await writer.start()
    writer.enqueue(batch_of(*(sample(i, now_ms() + i) for i in range(10))))
    await wait_until(lambda: writer.failed_attempts >= 2, what="two failed attempts")
    assert writer.queue_depth == 10

    await pool.execute("ALTER TABLE samples_away RENAME TO samples")
    await writer.stop(timeout=30)

    assert await pool.fetchval("SELECT count(*) FROM samples") == 10
    assert writer.written_samples == 10
    assert writer.queue_depth == 0


async def test_a_batch_postgres_rejects_is_dropped_alone_not_retried_forever(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Validation normally refuses this at enqueue; without it, the writer must still not wedge.
    monkeypatch.setattr("backend.storage.validated_keys.check_storable", lambda sample: None)
    writer = SampleWriter(pool, flush_interval=0.5)
    await writer.start()
    t = now_ms()
    writer.enqueue(batch_of(sample(1, t)))
    too_long_to_index = "".join(chr(0x4E00 + i * 7 % 20_000) for i in range(3_000))
    writer.enqueue(batch_of(sample(2, t, name=too_long_to_index)))
    writer.enqueue(batch_of(sample(3, t + 1)))
    await writer.stop(timeout=30)

    assert sorted(r["value"] for r in await pool.fetch("SELECT value FROM samples")) == [1, 3]
    assert (writer.dropped_samples, writer.written_samples) == (1, 2)


async def test_two_writers_creating_the_same_series_at_once_share_it_and_store_each_sample_once(
    pool: asyncpg.Pool,
) -> None:
    writers = [SampleWriter(pool, flush_interval=0.01) for _ in range(2)]
    t = now_ms()
    for writer in writers:
        await writer.start()
    for i in range(20):
        for w, writer in enumerate(writers):
            writer.enqueue(batch_of(*(sample(w, t + i, labels={"cpu": str(c)}) for c in range(50))))
        await asyncio.sleep(0.005)
    await asyncio.gather(*(writer.stop(timeout=30) for writer in writers))

    assert await pool.fetchval("SELECT count(*) FROM series") == 50
    # Both wrote every (series, time), with values 0 and 1: each is stored once, the larger kept.
    assert await pool.fetchval("SELECT count(*) FROM samples") == 1_000
    assert await pool.fetchval("SELECT count(*) FROM samples WHERE value = 1") == 1_000
    assert sum(writer.conflicting_samples for writer in writers) == 1_000
    assert sum(writer.duplicate_samples for writer in writers) == 0


async def test_columnar_batches_are_stored_like_sample_batches(pool: asyncpg.Pool) -> None:
    writer = SampleWriter(pool, flush_interval=0.01)
    await writer.start()
    t = now_ms()
    first = [sample(float(i), t, labels=labels) for i, labels in enumerate(NASTY_LABELS)]
    again = [
        sample(float(i) + 0.5, t + 1_000, labels=labels) for i, labels in enumerate(NASTY_LABELS)
    ]
    writer.enqueue(IngestBatch("json", as_columns(first)))  # new series
    writer.enqueue(IngestBatch("json", as_columns(again)))  # known series
    await writer.stop(timeout=30)

    stored = sorted(await _stored(pool), key=lambda row: (row[3], row[4]))
    expected = [(s.name, s.host, dict(s.labels), s.time_ms, s.value) for s in first + again]
    assert stored == sorted(expected, key=lambda row: (row[3], row[4]))


async def test_a_bad_sample_in_columns_refuses_the_whole_batch(pool: asyncpg.Pool) -> None:
    writer = SampleWriter(pool)
    good, bad = sample(1.0, now_ms()), sample(2.0, now_ms(), labels={"k": "a\x00b"})
    with pytest.raises(InvalidSample, match="NUL"):
        writer.enqueue(IngestBatch("json", as_columns([good, bad])))
    assert writer.queue_depth == 0


async def test_resent_samples_are_stored_once_identical_and_conflicting_counted(
    pool: asyncpg.Pool,
) -> None:
    writer = SampleWriter(pool, flush_interval=0.01)
    await writer.start()
    t = now_ms()
    first = [sample(float(c), t, labels={"cpu": str(c)}) for c in range(100)]
    writer.enqueue(batch_of(*first))
    await wait_until(lambda: writer.written_samples == 100, what="the first batch")
    # The same batch again, with 10 values changed (5 larger, which win; 5 smaller, which lose),
    # -0.0 against a stored +0.0 (loses: total order) and 3 new samples; then a sender that
    # keeps re-sending: every batch is stored once.
    again = list(first)
    for c in range(1, 6):
        again[c] = sample(c + 0.5, t, labels={"cpu": str(c)})
        again[c + 10] = sample(c + 10 - 0.5, t, labels={"cpu": str(c + 10)})
    again[0] = sample(-0.0, t, labels={"cpu": "0"})
    again += [sample(1.0, t + 1_000, labels={"cpu": str(c)}) for c in range(3)]
    writer.enqueue(batch_of(*again))
    for _ in range(5):
        writer.enqueue(batch_of(*first[50:]))
    await writer.stop(timeout=30)

    stored = {
        (r["cpu"], r["time_ms"]): r["value"]
        for r in await pool.fetch(
            "SELECT s.labels->>'cpu' AS cpu, (extract(epoch FROM x.time) * 1000)::int8 AS time_ms,"
            " x.value FROM samples x JOIN series s ON s.id = x.series_id"
        )
    }
    expected = {(str(c), t): float(c) for c in range(100)}
    expected.update({(str(c), t): c + 0.5 for c in range(1, 6)})
    expected.update({(str(c), t + 1_000): 1.0 for c in range(3)})
    assert stored == expected
    assert str(stored["0", t]) == "0.0"  # +0.0 kept
    assert writer.conflicting_samples == 11
    assert writer.duplicate_samples == (100 - 11) + 5 * 50
    assert writer.written_samples == 100 + 103 + 250


async def test_sql_and_numpy_order_values_alike(pool: asyncpg.Pool) -> None:
    """hostpulse_value_order (the writer's ON CONFLICT) and sample_merge.value_order (reads, the
    sealing job) agree, so the same value wins wherever two arrivals meet."""
    values = [0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324, 1.7976931348623157e308, math.inf,
              -math.inf, math.nan, -math.nan, 0.1, -2.5, 1e-300]  # fmt: skip
    in_sql = await pool.fetch("SELECT hostpulse_value_order(v) FROM unnest($1::float8[]) v", values)
    keys = value_order(np.array(values, np.float64)).tolist()
    assert [row[0] for row in in_sql] == keys
    ordered = [v for _, v in sorted(zip(keys, values, strict=True))]
    assert [math.copysign(1, v) for v in ordered if math.isnan(v)] == [-1, 1]  # first, last
    assert list(map(str, ordered[1:-1])) == ["-inf", "-2.5", "-1.0", "-5e-324", "-0.0", "0.0",
                                             "5e-324", "1e-300", "0.1", "1.0",
                                             "1.7976931348623157e+308", "inf"]  # fmt: skip


@pytest.mark.parametrize("lanes", [1, 2])
async def test_a_batch_postgresql_is_slow_to_take_holds_up_the_next_only_with_one_lane(
    pool: asyncpg.Pool, lanes: int
) -> None:
    """The first batch's process snapshots wait on a lock another session holds (as a batch
    waits on a busy PostgreSQL); with two lanes the next batch is committed meanwhile."""
    writer = SampleWriter(pool, flush_interval=0.01, lanes=lanes)
    await writer.start()
    t = now_ms()
    await writer.enqueue(batch_of(sample(0.0, t)))  # the series and its partition exist now
    blocker = await pool.acquire()
    try:
        await blocker.execute("BEGIN; LOCK TABLE process_snapshots IN SHARE MODE")
        stuck = writer.enqueue(
            IngestBatch("json", [sample(1.0, t + 1)], [ProcessSnapshot("web-1", t, [])])
        )
        await asyncio.sleep(0.2)  # the first lane is waiting for the lock by now
        behind = writer.enqueue(batch_of(sample(2.0, t + 2)))
        done, _ = await asyncio.wait([behind], timeout=3.0)
        assert not stuck.done()
        assert (behind in done) == (lanes > 1)
        assert writer.queue_depth == (2 if lanes > 1 else 3)  # 1 sample + 1 snapshot stuck
    finally:
        await blocker.execute("ROLLBACK")
        await pool.release(blocker)
    await asyncio.wait_for(asyncio.gather(stuck, behind), 10)
    await writer.stop(timeout=30)
    assert await pool.fetchval("SELECT count(*) FROM samples") == 3
    assert await pool.fetchval("SELECT count(*) FROM process_snapshots") == 1
    # Each lane numbers its own batches: a retry checks the progress of its lane only.
    assert await pool.fetchval("SELECT count(*) FROM writer_progress") == lanes


def test_a_writer_needs_a_lane() -> None:
    with pytest.raises(ValueError, match="lanes must be at least 1"):
        SampleWriter(NOT_STARTED, lanes=0)
