"""Choosing raw, 1-minute or 1-hour data and a step: at most ~2,000 points per series, always."""

from __future__ import annotations

import pytest

from backend.storage.history_plan import MAX_POINTS, ROLLUP_LAG_MS, plan_query, raw_tail_start

HOUR = 3_600_000
DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("span_ms", "step", "resolution", "step_seconds"),
    [
        (HOUR, None, "raw", 2),
        (5 * 60_000, None, "raw", 1),
        (HOUR, 10, "raw", 10),
        (HOUR, 60, "1m", 60),
        (6 * HOUR, None, "1m", 60),
        (DAY, None, "1m", 60),
        (30 * DAY, None, "1h", 3_600),
        (30 * DAY, 86_400, "1h", 86_400),
        (DAY, 90, "1m", 120),  # a rollup step is a whole number of rollup buckets
        (HOUR, 7_200, "1h", 7_200),
    ],
)
def test_plan_picks_the_coarsest_table_the_step_allows(
    span_ms: int, step: float | None, resolution: str, step_seconds: int
) -> None:
    start = 1_700_000_000_000
    plan = plan_query(start, start + span_ms, step)
    assert (plan.resolution, plan.step_seconds) == (resolution, step_seconds)


@pytest.mark.parametrize("span_ms", [1_000, 59_999, HOUR + 1, 7 * DAY + 13, 400 * DAY])
@pytest.mark.parametrize("step", [None, 0.001, 1, 59])
def test_no_plan_yields_more_than_max_points_buckets(span_ms: int, step: float | None) -> None:
    start = 1_700_000_000_123
    plan = plan_query(start, start + span_ms, step)
    step_ms = plan.step_seconds * 1000
    first, last = start // step_ms, (start + span_ms - 1) // step_ms
    assert last - first + 1 <= MAX_POINTS


@pytest.mark.parametrize(
    ("start", "end", "step", "message"),
    [
        (10, 10, None, "end .* must be after start"),
        (10, 5, None, "end .* must be after start"),
        (0, HOUR, 0, "step must be a positive"),
        (0, HOUR, float("nan"), "step must be a positive"),
        (0, HOUR, -5, "step must be a positive"),
        (-1, HOUR, None, "start .* outside 1970..9999"),
        (0, 10**17, None, "end .* outside 1970..9999"),
    ],
)
def test_bad_ranges_and_steps_are_refused(
    start: int, end: int, step: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plan_query(start, end, step)


def test_a_rollup_query_reaching_now_reads_its_last_buckets_raw() -> None:
    now = 1_700_000_000_000 + 12_345
    plan = plan_query(now - DAY, now, None)  # 1m rollups, 60 s step

    tail = raw_tail_start(plan, now - DAY, now, now)

    assert tail is not None
    assert tail % 60_000 == 0
    assert now - ROLLUP_LAG_MS - 60_000 < tail <= now - ROLLUP_LAG_MS


@pytest.mark.parametrize(
    ("span_ms", "end_offset_ms", "step"),
    [
        (HOUR, 0, None),  # raw already
        (DAY, -DAY, None),  # ends long ago: rollups are complete
        (30 * DAY, 0, 86_400),  # a one-day step: the tail would be a day of raw samples
    ],
)
def test_no_raw_tail_when_rollups_suffice_or_it_would_be_costly(
    span_ms: int, end_offset_ms: int, step: float | None
) -> None:
    now = 1_700_000_000_000
    end = now + end_offset_ms
    plan = plan_query(end - span_ms, end, step)
    assert raw_tail_start(plan, end - span_ms, end, now) is None
