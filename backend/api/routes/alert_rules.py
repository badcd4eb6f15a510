"""`/api/alert-rules`: alert rule CRUD and enable/disable (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel

from backend.alerts import rule_store
from backend.alerts.rule_spec import RuleSpec
from backend.alerts.rule_store import DuplicateRuleName, StoredRule
from backend.api.deps import ADMIN_ERRORS, AdminAccess, PoolDep, no_such, not_found_doc
from backend.api.types import RowId

router = APIRouter(prefix="/api/alert-rules", tags=["alerts"], dependencies=[AdminAccess])

_NOT_FOUND = not_found_doc("rule")
_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "Another rule has this name."}}


class RuleOut(RuleSpec):
    id: int
    source: Literal["api", "defaults", "file"]
    created_at: datetime
    updated_at: datetime


class RulesResponse(BaseModel):
    rules: list[RuleOut]


def _out(stored: StoredRule) -> RuleOut:
    return RuleOut(
        **stored.spec.model_dump(by_alias=True),
        id=stored.id,
        source=stored.source,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )


def _found(stored: StoredRule | None, rule_id: int) -> RuleOut:
    if stored is None:
        raise no_such("alert rule", rule_id)
    return _out(stored)


def _duplicate(exc: DuplicateRuleName) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail=f"name: a rule named {exc} exists")


@router.get("", response_model=RulesResponse, summary="Every alert rule", responses=ADMIN_ERRORS)
async def list_rules(pool: PoolDep) -> RulesResponse:
    return RulesResponse(rules=[_out(s) for s in await rule_store.list_rules(pool)])


@router.post(
    "",
    response_model=RuleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an alert rule",
    responses={**ADMIN_ERRORS, **_CONFLICT},
)
async def create_rule(spec: RuleSpec, pool: PoolDep) -> RuleOut:
    try:
        return _out(await rule_store.create_rule(pool, spec))
    except DuplicateRuleName as exc:
        raise _duplicate(exc) from None


@router.get(
    "/{rule_id}",
    response_model=RuleOut,
    summary="One alert rule",
    responses={**ADMIN_ERRORS, **_NOT_FOUND},
)
async def get_rule(rule_id: RowId, pool: PoolDep) -> RuleOut:
    return _found(await rule_store.get_rule(pool, rule_id), rule_id)


@router.put(
    "/{rule_id}",
    response_model=RuleOut,
    summary="Replace an alert rule",
    responses={**ADMIN_ERRORS, **_NOT_FOUND, **_CONFLICT},
)
async def replace_rule(rule_id: RowId, spec: RuleSpec, pool: PoolDep) -> RuleOut:
    try:
        return _found(await rule_store.replace_rule(pool, rule_id, spec), rule_id)
    except DuplicateRuleName as exc:
        raise _duplicate(exc) from None


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an alert rule (its firing alerts resolve)",
    responses={**ADMIN_ERRORS, **_NOT_FOUND},
)
async def delete_rule(rule_id: RowId, pool: PoolDep) -> Response:
    if not await rule_store.delete_rule(pool, rule_id):
        raise no_such("alert rule", rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{rule_id}/enable",
    response_model=RuleOut,
    summary="Enable an alert rule",
    responses={**ADMIN_ERRORS, **_NOT_FOUND},
)
async def enable_rule(rule_id: RowId, pool: PoolDep) -> RuleOut:
    return _found(await rule_store.set_enabled(pool, rule_id, True), rule_id)


@router.post(
    "/{rule_id}/disable",
    response_model=RuleOut,
    summary="Disable an alert rule (its firing alerts resolve)",
    responses={**ADMIN_ERRORS, **_NOT_FOUND},
)
async def disable_rule(rule_id: RowId, pool: PoolDep) -> RuleOut:
    return _found(await rule_store.set_enabled(pool, rule_id, False), rule_id)
