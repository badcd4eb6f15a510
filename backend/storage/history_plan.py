"""Which table a history query reads and how wide its buckets are (pure: tested with numbers)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Resolution = Literal["raw", "1m", "1h"]
MAX_POINTS = 2_000  # per series, whatever the span
RAW_MAX_SPAN_SECONDS = 4_000.0  # ~2,000 points of 2-second data
MINUTE_MAX_SPAN_SECONDS = MAX_POINTS * 60.0  # ~1.4 days of 1-minute rollups
_MAX_TIME_MS = 253_402_300_799_999  # what a Python datetime holds
_RESOLUTION_SECONDS: dict[Resolution, int] = {"raw": 1, "1m": 60, "1h": 3_600}


@dataclass(frozen=True, slots=True)
class QueryPlan:
    resolution: Resolution
    step_seconds: int  # bucket width: a whole multiple of the resolution


def plan_query(start_ms: int, end_ms: int, step_seconds: float | None) -> QueryPlan:
    """Pick raw, 1m or 1h data and a step so that [start, end) yields at most MAX_POINTS buckets."""
    for name, value in (("start", start_ms), ("end", end_ms)):
        if not 0 <= value <= _MAX_TIME_MS:
            raise ValueError(f"{name} ({value} ms) is outside 1970..9999")
    if end_ms <= start_ms:
        raise ValueError(f"end ({end_ms} ms) must be after start ({start_ms} ms)")
    if step_seconds is not None and not (math.isfinite(step_seconds) and step_seconds > 0):
        raise ValueError(f"step must be a positive number of seconds, got {step_seconds!r}")
    span = (end_ms - start_ms) / 1000
    # ceil(span / step) buckets can straddle one more aligned boundary, hence MAX_POINTS - 1.
    step = max(step_seconds or 0.0, span / (MAX_POINTS - 1))
    resolution: Resolution
    if span > MINUTE_MAX_SPAN_SECONDS or step >= 3_600:
        resolution = "1h"
    elif span > RAW_MAX_SPAN_SECONDS or step >= 60:
        resolution = "1m"
    else:
        resolution = "raw"
    unit = _RESOLUTION_SECONDS[resolution]
    return QueryPlan(resolution, max(unit, math.ceil(step / unit) * unit))


# The rollup job finishes a minute ~10 s after it ends; anything newer than this may be missing
# from rollups and is read from raw samples instead.
ROLLUP_LAG_MS = 120_000
_MAX_RAW_TAIL_MS = 2 * 3_600_000 + ROLLUP_LAG_MS  # beyond this, a slightly stale bucket is cheaper


def raw_tail_start(plan: QueryPlan, start_ms: int, end_ms: int, now_ms: int) -> int | None:
    """Where a rollup query switches to raw samples for the not-yet-rolled-up tail, if it does.

    The switch is a bucket boundary, so no bucket mixes rollup and raw rows.
    """
    if plan.resolution == "raw":
        return None
    step_ms = plan.step_seconds * 1000
    settled = now_ms - ROLLUP_LAG_MS
    boundary = settled - settled % step_ms
    if not start_ms <= boundary < end_ms or end_ms - boundary > _MAX_RAW_TAIL_MS:
        return None
    return boundary
