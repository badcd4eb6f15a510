"""sample_merge: one sample per (series, time) by the documented rule, and bucket aggregates."""

from __future__ import annotations

import math
import sys

import numpy as np

from backend.storage.sample_merge import Rows, bucket_aggregates, merge, repeated_minutes

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
