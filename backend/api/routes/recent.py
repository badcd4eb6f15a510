"""`GET /api/metrics/recent`: a host's samples and process tables of the recent window (Redis)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from backend.api.deps import READ_ERRORS, ReadAccess, SettingsDep, WindowDep
from backend.api.json_body import json_response

router = APIRouter(prefix="/api/metrics", tags=["metrics"], dependencies=[ReadAccess])


class SampleOut(BaseModel):
    name: str = Field(description="Prometheus-style metric name")
    labels: dict[str, str]
    time_ms: int = Field(description="unix milliseconds")
    value: float


class ProcessTable(BaseModel):
    time_ms: int
    processes: list[dict[str, Any]] = Field(description="the agent's top-N process entries")


class RecentResponse(BaseModel):
    host: str
    window_seconds: float
    samples: list[SampleOut]
    processes: list[ProcessTable] = Field(description="process tables, oldest first")


@router.get(
    "/recent",
    response_model=RecentResponse,
    summary="The recent window (default 5 minutes) of one host, from Redis",
    responses=READ_ERRORS,
)
async def recent(
    window: WindowDep,
    settings: SettingsDep,
    host: Annotated[str, Query(min_length=1, max_length=255, description="Host name")],
) -> Response:
    data = await window.recent(host)
    # Straight to JSON (shaped as RecentResponse): thousands of samples through pydantic models
    # would cost far more than the Redis read.
    body = {
        "host": host,
        "window_seconds": settings.recent_window,
        "samples": [
            {"name": s.name, "labels": s.labels, "time_ms": s.time_ms, "value": s.value}
            for s in data.samples
        ],
        "processes": [
            {"time_ms": p.time_ms, "processes": list(p.processes)} for p in data.process_snapshots
        ],
    }
    return json_response(body)
