"""sample_merge: one sample per (series, time) by the documented rule, and bucket aggregates."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from backend.storage.sample_merge import (
    Rows,
    bucket_aggregates,
    chunk_starts,
    merge,
    repeated_minutes,
    value_order,
)

MINUTE_US = 60_000_000


def rows(*samples: tuple[int, int, float]) -> Rows:
    ids, times, values = zip(*samples, strict=True)
    return Rows(np.array(ids, np.int64), np.array(times, np.int64), np.array(values, np.float64))


def test_the_larger_value_wins_whatever_the_arrival_order_and_repeats_are_counted() -> None:
    arrivals = [(1, 10, 2.0), (1, 10, 5.0), (1, 10, 2.0), (2, 10, -0.0), (2, 10, 0.0), (1, 5, 1.0)]
    for order in (arrivals, arrivals[::-1]):
        result = merge(rows(*order))
        assert result.rows.series_ids.tolist() == [1, 1, 2]
        assert result.rows.times_us.tolist() == [5, 10, 10]
        assert [str(v) for v in result.rows.values.tolist()] == ["1.0", "5.0", "0.0"]
        # (1, 10): 5.0 kept, 2.0 twice dropped (conflicting); (2, 10): -0.0 loses to +0.0.
        assert (result.duplicates, result.conflicts) == (0, 3)


def test_identical_repeats_are_duplicates_not_conflicts() -> None:
    result = merge(rows((7, 1, 3.0), (7, 1, 3.0), (7, 1, 3.0), (7, 2, math.nan), (7, 2, math.nan)))
    assert (len(result.rows), result.duplicates, result.conflicts) == (2, 3, 0)


def reference_merge(r: Rows) -> list[tuple[int, int, float]]:
    """One (series, time, value) per (series, time), the largest value by total order."""
    best: dict[tuple[int, int], float] = {}
    for series_id, time_us, value in zip(
        r.series_ids.tolist(), r.times_us.tolist(), r.values.tolist(), strict=True
    ):
        old = best.get((series_id, time_us))
        if old is None or value_order(np.array([value]))[0] > value_order(np.array([old]))[0]:
            best[(series_id, time_us)] = value
    return [(k[0], k[1], v) for k, v in sorted(best.items())]


@pytest.mark.parametrize(
    "layout",
    ["time order (as read from the head)", "shuffled", "ids wider than 16 bits", "repeats"],
)
def test_merge_sorts_and_deduplicates_any_arrival_order(layout: str) -> None:
    rng = np.random.default_rng(sum(map(ord, layout)))
    series = 40
    step = 65_536 * 3 if layout == "ids wider than 16 bits" else 1
    ids = np.tile(np.arange(series, dtype=np.int64) * step + 1_000, 300)
    times = np.repeat(np.arange(300, dtype=np.int64) * 2_000_000, series)
    times += rng.integers(0, 3, len(times))  # irregular, still ascending per series
    values = rng.normal(size=len(ids))
    if layout != "time order (as read from the head)":
        order = rng.permutation(len(ids))
        ids, times, values = ids[order], times[order], values[order]
    if layout == "repeats":
        again = rng.choice(len(ids), 500, replace=False)
        ids, times = np.append(ids, ids[again]), np.append(times, times[again])
        values = np.append(values, np.where(np.arange(500) % 2, values[again], -values[again]))
    incoming = Rows(ids, times, values)
    result = merge(incoming)
    got = list(
        zip(
            result.rows.series_ids.tolist(),
            result.rows.times_us.tolist(),
            result.rows.values.tolist(),
            strict=True,
        )
    )
    assert got == reference_merge(incoming)
    assert result.duplicates + result.conflicts == len(ids) - len(got)
    if layout == "repeats":
        assert (result.duplicates, result.conflicts) == (250, 250)


def test_chunk_starts_begins_a_chunk_at_each_new_series_or_window() -> None:
    window = 2 * 3_600_000_000
    merged = rows((1, 5, 1.0), (1, 6, 1.0), (1, window + 1, 1.0), (2, 6, 1.0), (3, 0, 1.0))
    starts, windows = chunk_starts(merged)
    assert starts.tolist() == [0, 2, 3, 4]
    assert windows.tolist() == [0, 0, window, 0, 0]
    assert chunk_starts(rows((1, 5, 1.0)))[0].tolist() == [0]


def test_repeated_minutes_names_each_minute_holding_a_repeat() -> None:
    found = repeated_minutes(
        rows(
            (1, 5, 1.0),
            (1, MINUTE_US + 7, 1.0),
            (1, MINUTE_US + 7, 2.0),  # repeated in minute 1 of series 1
            (2, 5, 1.0),
            (2, 5, 1.0),  # repeated in minute 0 of series 2
            (2, MINUTE_US + 5, 1.0),
        )
    )
    assert found == {(1, MINUTE_US), (2, 0)}
    assert repeated_minutes(rows((1, 5, 1.0), (2, 5, 1.0))) == set()


def test_bucket_sums_beyond_the_largest_double_are_infinite() -> None:
    big = sys.float_info.max
    b = bucket_aggregates(rows((1, 1, big), (1, 2, big), (1, MINUTE_US, 1.0)), MINUTE_US)
    assert b.sums.tolist() == [math.inf, 1.0]
    assert b.counts.tolist() == [2, 1]
    assert b.maxs.tolist() == [big, 1.0]
