"""`GET /api/hosts`: hosts seen in the recent window, when last seen, up or stale."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from backend.api.deps import READ_ERRORS, ReadAccess, SettingsDep, WindowDep

router = APIRouter(prefix="/api", tags=["hosts"], dependencies=[ReadAccess])


class HostOut(BaseModel):
    name: str
    last_seen: datetime = Field(description="RFC 3339 UTC time of the newest sample")
    status: Literal["up", "stale"] = Field(
        description="stale when the newest sample is older than `host_stale_after`"
    )


class HostsResponse(BaseModel):
    hosts: list[HostOut]
    stale_after_seconds: float


def host_status(
    last_seen_ms: int, now_ms: int, stale_after_seconds: float
) -> Literal["up", "stale"]:
    return "stale" if now_ms - last_seen_ms > stale_after_seconds * 1000 else "up"


@router.get(
    "/hosts",
    response_model=HostsResponse,
    summary="Known hosts with their last-seen time and status",
    responses={401: READ_ERRORS[401]},
)
async def hosts(window: WindowDep, settings: SettingsDep) -> HostsResponse:
    now_ms = int(time.time() * 1000)
    seen = await window.hosts()
    return HostsResponse(
        stale_after_seconds=settings.host_stale_after,
        hosts=[
            HostOut(
                name=name,
                last_seen=datetime.fromtimestamp(last_ms / 1000, UTC),
                status=host_status(last_ms, now_ms, settings.host_stale_after),
            )
            for name, last_ms in sorted(seen)
        ],
    )
