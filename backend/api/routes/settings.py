"""The effective settings an admin may see (read-only: they come from the config file and env)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from backend.api.deps import ADMIN_ERRORS, AdminAccess, SettingsDep
from conventions.durations import format_duration

router = APIRouter(
    prefix="/api/settings", tags=["settings"], dependencies=[AdminAccess], responses=ADMIN_ERRORS
)


class RetentionView(BaseModel):
    """How long each kind of data is kept, as Prometheus-style durations."""

    enabled: bool
    raw_samples: str = Field(examples=["1w"])
    rollup_1m: str = Field(examples=["30d"])
    rollup_1h: str = Field(examples=["365d"])
    alert_history: str = Field(examples=["90d"])
    process_snapshots: str = Field(examples=["1w"])
    interval: str = Field(description="How often the retention job runs.", examples=["1h"])
    source: str = Field(description="Where to change these values.")


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g}d" if seconds >= 86400 else format_duration(seconds)


@router.get("/retention", summary="Effective retention settings")
async def retention(settings: SettingsDep) -> RetentionView:
    """Read-only: set them under `retention:` in the config file or `HOSTPULSE_RETENTION__*`."""
    kept = settings.retention
    return RetentionView(
        enabled=kept.enabled,
        raw_samples=_days(kept.raw_samples),
        rollup_1m=_days(kept.rollup_1m),
        rollup_1h=_days(kept.rollup_1h),
        alert_history=_days(kept.alert_history),
        process_snapshots=_days(kept.process_snapshots),
        interval=format_duration(kept.interval),
        source="retention: in the backend's config file, or HOSTPULSE_RETENTION__* variables",
    )
