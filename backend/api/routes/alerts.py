"""`/api/alerts`: current alerts, the transition history, and mutes (host or rule on a host)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from backend.alerts.alertmanager_format import fingerprint
from backend.alerts.history_store import HistoryQuery, query_history
from backend.alerts.mutes import active_mutes, add_mute, delete_mute, is_muted
from backend.alerts.state_store import current_alerts
from backend.api.deps import (
    ADMIN_ERRORS,
    READ_ERRORS,
    AdminAccess,
    PoolDep,
    ReadAccess,
    no_such,
    not_found_doc,
)
from backend.api.types import Rfc3339, RowId

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


def _moment(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None


class AlertOut(BaseModel):
    rule: str
    labels: dict[str, str]
    fingerprint: str
    state: str = Field(description="pending or firing")
    value: float | None
    active_since: datetime | None = Field(description="when the condition started holding")
    fired_at: datetime | None
    last_seen: datetime | None
    muted: bool = Field(description="a mute covers it: no notifications are sent")


class AlertsResponse(BaseModel):
    alerts: list[AlertOut]


class TransitionOut(BaseModel):
    id: int
    rule: str
    labels: dict[str, str]
    host: str
    severity: str
    from_state: str
    to_state: str
    value: float | None
    time: datetime
    starts_at: datetime | None
    reason: str
    muted: bool


class AlertHistoryResponse(BaseModel):
    transitions: list[TransitionOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page")


class MuteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255)
    rule: str | None = Field(default=None, min_length=1, max_length=200)
    until: Rfc3339 = Field(description="RFC 3339; the mute ends then")
    comment: str = Field(default="", max_length=1000)


class MuteOut(MuteIn):
    id: int


class AlertMutesResponse(BaseModel):
    mutes: list[MuteOut]


@router.get(
    "",
    response_model=AlertsResponse,
    summary="Alerts now pending or firing",
    dependencies=[ReadAccess],
    responses={401: READ_ERRORS[401]},
)
async def alerts(pool: PoolDep) -> AlertsResponse:
    mutes = await active_mutes(pool)
    now = datetime.now(UTC)
    return AlertsResponse(
        alerts=[
            AlertOut(
                rule=a.rule,
                labels=dict(a.labels),
                fingerprint=fingerprint(dict(a.labels)),
                state=a.state.value,
                value=a.last_value,
                active_since=_moment(a.active_since_ms),
                fired_at=_moment(a.fired_at_ms),
                last_seen=_moment(a.last_seen_ms),
                muted=is_muted(mutes, a.rule, dict(a.labels), now),
            )
            for a in await current_alerts(pool)
        ]
    )


@router.get(
    "/history",
    response_model=AlertHistoryResponse,
    summary="Alert transitions, newest first, filtered and paginated",
    dependencies=[ReadAccess],
    responses=READ_ERRORS,
)
async def history(
    pool: PoolDep,
    host: Annotated[str | None, Query(max_length=255)] = None,
    rule: Annotated[str | None, Query(max_length=200)] = None,
    severity: Annotated[str | None, Query(max_length=100)] = None,
    from_: Annotated[Rfc3339 | None, Query(alias="from", description="RFC 3339")] = None,
    to: Annotated[Rfc3339 | None, Query(description="RFC 3339, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> AlertHistoryResponse:
    if from_ is not None and to is not None and from_ >= to:
        raise HTTPException(422, detail="from: must be before to")
    rows = await query_history(
        pool,
        HistoryQuery(
            host=host,
            rule=rule,
            severity=severity,
            since=from_,
            until=to,
            limit=limit,
            before_id=int(cursor) if cursor is not None else None,
        ),
    )
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return AlertHistoryResponse(
        transitions=[
            TransitionOut(
                id=r.id,
                rule=r.rule,
                labels=r.labels,
                host=r.host,
                severity=r.severity,
                from_state=r.from_state,
                to_state=r.to_state,
                value=r.value,
                time=r.at,
                starts_at=r.starts_at,
                reason=r.reason,
                muted=r.muted,
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


@router.get(
    "/mutes",
    response_model=AlertMutesResponse,
    summary="Mutes in force",
    dependencies=[ReadAccess],
    responses={401: READ_ERRORS[401]},
)
async def mutes(pool: PoolDep) -> AlertMutesResponse:
    found = await active_mutes(pool)
    return AlertMutesResponse(
        mutes=[
            MuteOut(id=m.id, host=m.host, rule=m.rule, until=m.until, comment=m.comment)
            for m in found
        ]
    )


@router.post(
    "/mutes",
    response_model=MuteOut,
    status_code=status.HTTP_201_CREATED,
    summary="Mute a host, or one rule on a host, until a time",
    dependencies=[AdminAccess],
    responses=ADMIN_ERRORS,
)
async def mute(body: MuteIn, pool: PoolDep) -> MuteOut:
    if body.until.tzinfo is None:
        raise HTTPException(422, detail="until: needs a time zone")
    if body.until <= datetime.now(UTC):
        raise HTTPException(422, detail="until: is in the past")
    made = await add_mute(pool, body.host, body.rule, body.until, body.comment)
    return MuteOut(
        id=made.id, host=made.host, rule=made.rule, until=made.until, comment=made.comment
    )


@router.delete(
    "/mutes/{mute_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End a mute",
    dependencies=[AdminAccess],
    responses={**ADMIN_ERRORS, **not_found_doc("mute")},
)
async def unmute(mute_id: RowId, pool: PoolDep) -> Response:
    if not await delete_mute(pool, mute_id):
        raise no_such("mute", mute_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
