"""`/api/users` (admin only): list, create, change role or password, delete."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from backend.api.deps import ADMIN_ERRORS, AdminAccess, PoolDep
from backend.api.routes.auth import UserOut
from backend.api.types import RowId
from backend.auth.passwords import PasswordPolicyError
from backend.users.store import (
    LastAdminError,
    UserExistsError,
    create_user,
    delete_user,
    list_users,
    update_user,
)

router = APIRouter(
    prefix="/api/users", tags=["users"], dependencies=[AdminAccess], responses=ADMIN_ERRORS
)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@\-]+$")
    password: str = Field(min_length=1, max_length=1024)
    role: Literal["admin", "viewer"] = "viewer"


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "viewer"] | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)


class UsersResponse(BaseModel):
    users: list[UserOut]


def _bad_password(exc: PasswordPolicyError) -> HTTPException:
    return HTTPException(422, detail=f"password: {exc}")


@router.get("", response_model=UsersResponse, summary="Every user (never a password hash)")
async def get_users(pool: PoolDep) -> UsersResponse:
    return UsersResponse(users=[UserOut.of(u) for u in await list_users(pool)])


@router.post(
    "",
    response_model=UserOut,
    status_code=201,
    summary="Create a user",
    responses={409: {"description": "The name is taken."}},
)
async def post_user(body: UserCreate, pool: PoolDep) -> UserOut:
    try:
        user = await create_user(pool, body.name, body.password, body.role)
    except PasswordPolicyError as exc:
        raise _bad_password(exc) from None
    except UserExistsError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    return UserOut.of(user)


@router.patch(
    "/{user_id}",
    response_model=UserOut,
    summary="Change a user's role and/or password (their sessions end)",
    responses={404: {"description": "No such user."}, 409: {"description": "Last admin."}},
)
async def patch_user(user_id: RowId, body: UserChange, pool: PoolDep) -> UserOut:
    try:
        user = await update_user(pool, user_id, role=body.role, password=body.password)
    except PasswordPolicyError as exc:
        raise _bad_password(exc) from None
    except LastAdminError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    if user is None:
        raise HTTPException(404, detail=f"no user with id {user_id}")
    return UserOut.of(user)


@router.delete(
    "/{user_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a user and their sessions",
    responses={404: {"description": "No such user."}, 409: {"description": "Last admin."}},
)
async def remove_user(user_id: RowId, pool: PoolDep) -> Response:
    try:
        deleted = await delete_user(pool, user_id)
    except LastAdminError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    if not deleted:
        raise HTTPException(404, detail=f"no user with id {user_id}")
    return Response(status_code=204)
