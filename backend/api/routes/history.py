"""`GET /api/metrics/history`: one host's metric over a time range, raw or rolled up by step."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from backend.api.deps import READ_ERRORS, PoolDep, ReadAccess
from backend.api.json_body import json_response
from backend.storage.history import query_history
from conventions.durations import parse_duration

router = APIRouter(prefix="/api/metrics", tags=["metrics"], dependencies=[ReadAccess])

DEFAULT_RANGE_SECONDS = 3600.0
MAX_RANGE_SECONDS = 400 * 86400.0
MAX_LABEL_MATCHERS = 20


class Point(BaseModel):
    time_ms: int = Field(description="bucket start, unix milliseconds (aligned to the step)")
    avg: float
    min: float
    max: float
    count: int = Field(description="raw samples in the bucket")


class Series(BaseModel):
    labels: dict[str, str]
    points: list[Point]


class HistoryResponse(BaseModel):
    host: str
    metric: str
    start: datetime = Field(description="RFC 3339 UTC")
    end: datetime = Field(description="RFC 3339 UTC")
    step_seconds: int = Field(description="bucket width actually used")
    resolution: Literal["raw", "1m", "1h"] = Field(description="where the points came from")
    series: list[Series]
    truncated: bool = Field(description="more series matched than returned")


def parse_time(text: str, field: str) -> int:
    """Unix milliseconds from RFC 3339 or unix seconds; ValueError naming the field."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{field}: {text!r} is neither RFC 3339 (2024-05-01T12:00:00Z) nor unix seconds"
            ) from None
        if parsed.tzinfo is None:
            raise ValueError(f"{field}: {text!r} has no timezone; add 'Z' or an offset") from None
        return int(parsed.timestamp() * 1000)
    if not math.isfinite(seconds) or not 0 <= seconds < 1e11:
        raise ValueError(f"{field}: {text!r} is not a plausible unix time in seconds")
    return int(seconds * 1000)


def parse_step(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        step = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"step: {exc}") from None
    if not math.isfinite(step) or step <= 0:
        raise ValueError(f"step: {text!r} must be a positive duration such as '1m'")
    return step


def parse_matchers(items: list[str]) -> dict[str, str] | None:
    """`name=value` label matchers; ValueError naming the bad one."""
    if len(items) > MAX_LABEL_MATCHERS:
        raise ValueError(f"label: at most {MAX_LABEL_MATCHERS} label matchers")
    matchers: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"label: {item!r} must look like name=value")
        matchers[name] = value
    return matchers or None


def resolve_range(start: str | None, end: str | None, now_ms: int) -> tuple[int, int]:
    end_ms = parse_time(end, "to") if end else now_ms
    start_ms = parse_time(start, "from") if start else end_ms - int(DEFAULT_RANGE_SECONDS * 1000)
    if start_ms >= end_ms:
        raise ValueError("from: must be earlier than 'to'")
    if end_ms - start_ms > MAX_RANGE_SECONDS * 1000:
        raise ValueError(f"from: the range may span at most {int(MAX_RANGE_SECONDS // 86400)} days")
    return start_ms, end_ms


@router.get(
    "/history",
    response_model=HistoryResponse,
    summary="A metric of one host over time (raw or 1m/1h rollups, chosen by step)",
    responses=READ_ERRORS,
)
async def history(
    pool: PoolDep,
    host: Annotated[str, Query(min_length=1, max_length=255, description="Host name")],
    metric: Annotated[str, Query(min_length=1, max_length=255, description="Metric name")],
    start: Annotated[
        str | None,
        Query(alias="from", description="RFC 3339 or unix seconds; default: to minus 1h"),
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="RFC 3339 or unix seconds; default now")
    ] = None,
    step: Annotated[
        str | None, Query(description="Prometheus duration (e.g. 1m); default: chosen by range")
    ] = None,
    label: Annotated[
        list[str] | None, Query(description="Label matcher name=value; repeatable")
    ] = None,
) -> Response:
    try:
        start_ms, end_ms = resolve_range(start, end, int(time.time() * 1000))
        step_seconds = parse_step(step)
        matchers = parse_matchers(label or [])
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    result = await query_history(
        pool,
        host=host,
        metric=metric,
        start_ms=start_ms,
        end_ms=end_ms,
        step_seconds=step_seconds,
        matchers=matchers,
    )
    # Built straight into JSON (shaped as HistoryResponse): a 2,000-point answer through pydantic
    # models costs more than the query itself.
    body = {
        "host": host,
        "metric": metric,
        "start": rfc3339(start_ms),
        "end": rfc3339(end_ms),
        "step_seconds": result.step_seconds,
        "resolution": result.resolution,
        "series": [
            {
                "labels": series.labels,
                "points": [
                    {
                        "time_ms": p.time_ms,
                        "avg": p.avg,
                        "min": p.min,
                        "max": p.max,
                        "count": p.count,
                    }
                    for p in series.points
                ],
            }
            for series in result.series
        ],
        "truncated": result.truncated,
    }
    return json_response(body)


def rfc3339(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
