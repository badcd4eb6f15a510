"""Sealing on the real PostgreSQL: round trips bit for bit, the seam, late and repeated samples,
the rollups' precondition, and one pass at a time."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import asyncpg
import numpy as np

from backend.model import Sample
from backend.storage.history import query_history
from backend.storage.rollups import refresh_all_rollups
from backend.storage.sealing import Sealer, frontier_for
from tests.backend.storage.sealing_support import (
    FAST,
    HOUR_MS,
    as_pairs,
    read_back,
    roll_up_and_seal,
    series_ids,
    write,
)
from tests.backend.storage.storage_support import now_ms

WINDOW_MS = 2 * HOUR_MS


def kinds_of_series(
    start_ms: int, end_ms: int, seed: int = 7
) -> dict[str, tuple[list[int], list[float]]]:
    """Series shaped like what exporters send, and like what they never should but might."""
    rng = np.random.default_rng(seed)
    regular = np.arange(start_ms, end_ms, 2_000)
    n = len(regular)
    # Random mantissas and signs, exponents within 2**±60 (so a minute's sum stays finite).
    mantissa = rng.integers(0, 2**52, n, dtype=np.uint64)
    exponent = rng.integers(1023 - 60, 1023 + 60, n).astype(np.uint64) << np.uint64(52)
    sign = rng.integers(0, 2, n).astype(np.uint64) << np.uint64(63)
    random_bits = (mantissa | exponent | sign).view(np.float64)
    irregular = np.unique(start_ms + np.cumsum(rng.integers(1, 9_000, n)))
    irregular = irregular[irregular < end_ms]
    gap = (regular < start_ms + HOUR_MS) | (regular > start_ms + 3 * HOUR_MS)
    edge = np.array([0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, -1e300, math.pi])
    return {
        "constant": (regular.tolist(), [16.0] * n),
        "counter": (regular.tolist(), np.cumsum(rng.poisson(800, n)).astype(float).tolist()),
        "random_walk": (regular.tolist(), np.cumsum(rng.normal(0, 1, n)).tolist()),
        "random_bits": (regular.tolist(), random_bits.tolist()),
        "irregular": (irregular.tolist(), rng.uniform(0, 1, len(irregular)).tolist()),
        "with_gap": (regular[gap].tolist(), rng.normal(50, 5, int(gap.sum())).tolist()),
        # Each once: two of the largest double in one minute overflow the rollup's float8 sum.
        "edge_values": (regular[::600][: len(edge)].tolist(), edge.tolist()),
    }


def samples_of(series: dict[str, tuple[list[int], list[float]]]) -> list[Sample]:
    return [
        Sample("seal-1", "test_metric", {"kind": kind}, t, v)
        for kind, (times, values) in series.items()
        for t, v in zip(times, values, strict=True)
    ]


async def test_series_of_every_shape_round_trip_bit_for_bit_through_sealing(
    pool: asyncpg.Pool,
) -> None:
    end = now_ms() - 60_000
    start = end - 7 * HOUR_MS
    series = kinds_of_series(start, end)
    await write(pool, samples_of(series))
    sealer = await roll_up_and_seal(pool)

    # Most of it is sealed (every window before the frontier); the rest stays in the head.
    sealed = await pool.fetchval("SELECT coalesce(sum(samples), 0) FROM sample_chunks")
    in_head = await pool.fetchval("SELECT count(*) FROM samples")
    total = sum(len(times) for times, _ in series.values())
    assert sealed + in_head == total
    assert sealed > total / 2
    frontier = frontier_for(datetime.now(UTC), FAST.grace)
    assert not await pool.fetchval("SELECT count(*) FROM samples WHERE time < $1", frontier)
    assert sealer.stats.chunks_written > 0

    rows = await read_back(pool, start, end + 1)
    ids = await series_ids(pool)
    for kind, (times, values) in series.items():
        got_times, got_bits = as_pairs(rows, ids[kind])
        assert got_times.tolist() == times, kind
        assert got_bits.tolist() == np.array(values, np.float64).view(np.uint64).tolist(), kind

    # The rollups, computed from the head before sealing, match the sealed samples.
    for kind in ("counter", "irregular", "with_gap"):
        times, values = series[kind]
        expected: dict[int, list[float]] = {}
        for t, v in zip(times, values, strict=True):
            expected.setdefault(t - t % 60_000, []).append(v)
        found = await pool.fetch(
            "SELECT (extract(epoch FROM bucket) * 1000)::int8 AS m, min, max, sum, count "
            "FROM rollup_1m WHERE series_id = $1",
            ids[kind],
        )
        assert {r["m"] for r in found} == set(expected)
        for r in found:
            minute = expected[r["m"]]
            assert (r["min"], r["max"], r["count"]) == (min(minute), max(minute), len(minute))
            assert math.isclose(r["sum"], math.fsum(minute), rel_tol=1e-12)


async def test_the_seam_between_chunks_and_the_head_has_no_gap_and_no_duplicate(
    pool: asyncpg.Pool,
) -> None:
    end = now_ms()
    start = end - 4 * HOUR_MS
    times = list(range(start - start % 2_000, end, 2_000))
    await write(pool, [Sample("seam-1", "m", {}, t, float(i)) for i, t in enumerate(times)])
    await roll_up_and_seal(pool)
    frontier_ms = int(frontier_for(datetime.now(UTC), FAST.grace).timestamp() * 1000)
    assert await pool.fetchval("SELECT count(*) FROM sample_chunks") >= 1
    assert await pool.fetchval("SELECT count(*) FROM samples") > 0

    # An hour across the seam, raw: every 2 s bucket holds exactly its one sample.
    result = await query_history(
        pool, host="seam-1", metric="m", start_ms=frontier_ms - 1_800_000,
        end_ms=frontier_ms + 1_800_000, step_seconds=None,
    )  # fmt: skip
    (found,) = result.series
    assert result.resolution == "raw"
    inside = range(frontier_ms - 1_800_000, frontier_ms + 1_800_000)
    expected = [(t, float(i)) for i, t in enumerate(times) if t in inside]
    assert [(p.time_ms, p.avg) for p in found.points] == expected
    assert all(p.count == 1 for p in found.points)
    # Coarser buckets straddling the seam add up both sides once.
    result = await query_history(
        pool, host="seam-1", metric="m", start_ms=frontier_ms - 1_800_000,
        end_ms=frontier_ms + 1_800_000, step_seconds=7,
    )  # fmt: skip
    assert sum(p.count for p in result.series[0].points) == len(expected)


async def test_late_and_repeated_samples_for_a_sealed_window_count_once_larger_value_wins(
    pool: asyncpg.Pool,
) -> None:
    end = now_ms() - HOUR_MS
    start = end - 4 * HOUR_MS
    start -= start % 60_000
    await write(pool, [Sample("late-1", "m", {}, start + i * 10_000, 1.0) for i in range(60)])
    await roll_up_and_seal(pool)
    assert await pool.fetchval("SELECT count(*) FROM samples") == 0

    # After sealing: an identical retry, a conflicting value (larger, so it wins), a smaller
    # conflicting value (loses) and a sample that is new.
    writer = await write(
        pool,
        [
            Sample("late-1", "m", {}, start, 1.0),
            Sample("late-1", "m", {}, start + 10_000, 5.0),
            Sample("late-1", "m", {}, start + 20_000, -3.0),
            Sample("late-1", "m", {}, start + 15_000, 2.0),
        ],
    )
    assert await pool.fetchval("SELECT count(*) FROM samples_late") == 4
    assert (writer.duplicate_samples, writer.conflicting_samples) == (0, 0)  # late is a table

    # Reads and rollups see one sample per time before the sealing job merges them ...
    async def minute_rollup() -> tuple[float, float, float, int]:
        [row] = await pool.fetch(
            "SELECT min, max, sum, count FROM rollup_1m WHERE bucket = to_timestamp($1 / 1000.0)",
            start,
        )
        return (row["min"], row["max"], row["sum"], row["count"])

    sealer = Sealer(pool, FAST, clock=None)
    async with pool.acquire() as conn:
        await refresh_all_rollups(conn)
    assert await minute_rollup() == (1.0, 5.0, 12.0, 7)
    rows = await read_back(pool, start, start + 60_000)
    assert rows.values.tolist() == [1.0, 5.0, 2.0, 1.0, 1.0, 1.0, 1.0]

    # ... and after: the late rows are in the chunk, counted as dropped where they were.
    report = await sealer.run_pass()
    assert report.late_rows == 4
    assert await pool.fetchval("SELECT count(*) FROM samples_late") == 0
    assert (sealer.stats.duplicates, sealer.stats.conflicts) == (1, 2)
    rows = await read_back(pool, start, start + 60_000)
    assert rows.values.tolist() == [1.0, 5.0, 2.0, 1.0, 1.0, 1.0, 1.0]
    assert await minute_rollup() == (1.0, 5.0, 12.0, 7)
    assert await pool.fetchval("SELECT sum(samples) FROM sample_chunks") == 61


async def test_a_window_with_pending_rollups_waits_to_be_sealed(pool: asyncpg.Pool) -> None:
    start = now_ms() - 5 * HOUR_MS
    await write(pool, [Sample("wait-1", "m", {}, start + i * 1_000, 1.0) for i in range(10)])
    sealer = Sealer(pool, FAST, clock=None)
    # A minute whose rollups the rollup job has not recomputed yet.
    await pool.execute(
        "INSERT INTO rollup_pending (minute) "
        "VALUES (date_bin('1 minute', to_timestamp($1 / 1000.0), 'epoch'))",
        start,
    )
    report = await sealer.run_pass()
    assert report.waiting
    assert not report.sealed
    assert await pool.fetchval("SELECT count(*) FROM sample_chunks") == 0
    await roll_up_and_seal(pool, sealer)
    assert await pool.fetchval("SELECT sum(samples) FROM sample_chunks") == 10


async def test_one_pass_at_a_time_across_processes(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as holder:
        await holder.execute("SELECT pg_advisory_lock(x'48505365616C6572'::bigint)")
        try:
            report = await Sealer(pool, FAST, clock=None).run_pass()
        finally:
            await holder.execute("SELECT pg_advisory_unlock(x'48505365616C6572'::bigint)")
    assert report.skipped
