"""`/api/webhooks`: webhook receivers (admin only). A secret is returned once, at creation."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.api.deps import ADMIN_ERRORS, AdminAccess, PoolDep, no_such, not_found_doc
from backend.api.types import RowId
from backend.notify import webhook_store
from backend.notify.webhook_store import Webhook

router = APIRouter(prefix="/api/webhooks", tags=["alerts"], dependencies=[AdminAccess])

_NOT_FOUND = not_found_doc("webhook")


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=8, max_length=2000)
    secret: str | None = Field(default=None, min_length=16, max_length=200, repr=False)
    generate_secret: bool = Field(default=False, description="the server makes the secret")
    send_resolved: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    send_resolved: bool | None = None
    enabled: bool | None = None


class WebhookOut(BaseModel):
    id: int
    name: str
    url: str
    has_secret: bool
    send_resolved: bool
    enabled: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str | None = Field(description="shown this once; signs X-HostPulse-Signature")


class WebhooksResponse(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: int
    transition_id: int | None
    state: str
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveriesResponse(BaseModel):
    deliveries: list[DeliveryOut]


def _out(hook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=hook.id,
        name=hook.name,
        url=hook.url,
        has_secret=hook.has_secret,
        send_resolved=hook.send_resolved,
        enabled=hook.enabled,
        created_at=hook.created_at,
    )


@router.get("", response_model=WebhooksResponse, summary="Webhooks", responses=ADMIN_ERRORS)
async def list_webhooks(pool: PoolDep) -> WebhooksResponse:
    return WebhooksResponse(webhooks=[_out(h) for h in await webhook_store.list_webhooks(pool)])


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Add a webhook (Alertmanager webhook body, optionally HMAC-signed)",
    responses=ADMIN_ERRORS,
)
async def create_webhook(body: WebhookIn, pool: PoolDep) -> WebhookCreated:
    if body.secret is not None and body.generate_secret:
        raise HTTPException(422, detail="secret: give one or generate_secret")
    secret = secrets.token_urlsafe(32) if body.generate_secret else body.secret
    hook = await webhook_store.create_webhook(pool, body.name, body.url, secret, body.send_resolved)
    return WebhookCreated(**_out(hook).model_dump(), secret=secret)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Switch a webhook on or off, or its resolved notifications",
    responses={**ADMIN_ERRORS, **_NOT_FOUND},
)
async def update_webhook(webhook_id: RowId, body: WebhookPatch, pool: PoolDep) -> WebhookOut:
    hook = await webhook_store.update_webhook(
        pool, webhook_id, send_resolved=body.send_resolved, enabled=body.enabled
    )
    if hook is None:
        raise no_such("webhook", webhook_id)
    return _out(hook)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook",
    responses={**ADMIN_ERRORS, **_NOT_FOUND},
)
async def delete_webhook(webhook_id: RowId, pool: PoolDep) -> Response:
    if not await webhook_store.delete_webhook(pool, webhook_id):
        raise no_such("webhook", webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveriesResponse,
    summary="The webhook's latest deliveries and their outcome",
    responses=ADMIN_ERRORS,
)
async def deliveries(
    webhook_id: RowId, pool: PoolDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> DeliveriesResponse:
    rows = await webhook_store.recent_deliveries(pool, webhook_id, limit)
    return DeliveriesResponse(deliveries=[DeliveryOut(**dict(row)) for row in rows])
