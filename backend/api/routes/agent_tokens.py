"""`/api/agent-tokens` (admin only): create (the secret is shown once), list, revoke."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from backend.api.deps import ADMIN_ERRORS, AdminAccess, PoolDep
from backend.api.types import RowId
from backend.auth.agent_tokens import (
    TOKEN_CACHE_SECONDS,
    TokenInfo,
    create_token,
    list_tokens,
    revoke_token,
)

router = APIRouter(
    prefix="/api/agent-tokens",
    tags=["agent tokens"],
    dependencies=[AdminAccess],
    responses=ADMIN_ERRORS,
)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="what the token is for (web-1)")


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, info: TokenInfo) -> TokenOut:
        return cls(
            id=info.id,
            name=info.name,
            created_at=info.created_at,
            revoked_at=info.revoked_at,
            last_used_at=info.last_used_at,
        )


class TokenCreated(BaseModel):
    id: int
    name: str
    token: str = Field(description="The secret, shown this once: it is stored only as a hash.")


class TokensResponse(BaseModel):
    tokens: list[TokenOut]


@router.get("", response_model=TokensResponse, summary="Every agent token (never its secret)")
async def get_tokens(pool: PoolDep) -> TokensResponse:
    return TokensResponse(tokens=[TokenOut.of(t) for t in await list_tokens(pool)])


@router.post("", response_model=TokenCreated, status_code=201, summary="Create a token; shown once")
async def post_token(body: TokenCreate, pool: PoolDep) -> TokenCreated:
    try:
        token_id, secret = await create_token(pool, body.name)
    except ValueError as exc:
        raise HTTPException(422, detail=f"name: {exc}") from None
    return TokenCreated(id=token_id, name=body.name.strip(), token=secret)


@router.delete(
    "/{token_id}",
    status_code=204,
    response_class=Response,
    summary=f"Revoke a token (refused everywhere within {TOKEN_CACHE_SECONDS:g} s)",
    responses={404: {"description": "No active token with this id."}},
)
async def delete_token(token_id: RowId, pool: PoolDep) -> Response:
    if not await revoke_token(pool, token_id):
        raise HTTPException(404, detail=f"no active token with id {token_id}")
    return Response(status_code=204)
