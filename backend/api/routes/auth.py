"""`/api/auth`: log in (cookie and/or bearer token), log out, who am I.

Login is rate limited per client IP, and each failed attempt drains a second bucket keyed by
user name + IP (a success gives its token back), so guessing one account slows to a crawl while
its owner, who types the right password, is not locked out from elsewhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from backend.api.deps import (
    READ_ERRORS,
    PoolDep,
    RateLimitsDep,
    SettingsDep,
    UserDep,
    session_token,
)
from backend.auth.passwords import PasswordPolicyError
from backend.auth.sessions import create_session, end_session
from backend.ratelimit.limiters import client_ip, failed_login_key, too_many_requests
from backend.users.model import User
from backend.users.store import authenticate, update_user

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    token: bool = Field(
        default=False, description="also return a bearer token (for API clients) in the body"
    )


class UserOut(BaseModel):
    id: int
    name: str
    role: Literal["admin", "viewer"]
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, name=user.name, role=user.role, created_at=user.created_at)


class LoginResponse(BaseModel):
    user: UserOut
    expires_at: datetime
    token: str | None = Field(
        default=None, description="`Authorization: Bearer <token>`; only when asked for"
    )


_LOGIN_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Wrong user name or password."},
    429: {"description": "Too many attempts; `Retry-After` says when to try again."},
}


@router.post(
    "/login",
    response_model=LoginResponse,
    response_model_exclude_none=True,
    summary="Log in: sets the session cookie, and returns a bearer token when asked",
    responses=_LOGIN_ERRORS,
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    pool: PoolDep,
    settings: SettingsDep,
    limiters: RateLimitsDep,
) -> LoginResponse:
    ip = client_ip(request, limiters.trusted_proxies)
    failure_key = failed_login_key(body.username, ip)
    if limiters.enabled:
        decision = await limiters.login_per_ip.take(ip)
        if not decision.allowed:
            raise too_many_requests(decision, "login attempts from this address")
        decision = await limiters.failed_login.take(failure_key)
        if not decision.allowed:
            raise too_many_requests(decision, "failed logins for this user")
    user = await authenticate(pool, body.username, body.password)
    if user is None:
        raise HTTPException(401, detail="wrong user name or password")
    if limiters.enabled:
        await limiters.failed_login.refund(failure_key)
    session = await create_session(pool, user, settings.auth.session_ttl)
    response.set_cookie(
        settings.auth.cookie_name,
        session.token,
        max_age=int(settings.auth.session_ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.auth.cookie_secure,
    )
    return LoginResponse(
        user=UserOut.of(user),
        expires_at=session.expires_at,
        token=session.token if body.token else None,
    )


@router.post(
    "/logout",
    status_code=204,
    response_class=Response,
    summary="End the presented session (cookie or bearer) and clear the cookie",
)
async def logout(request: Request, pool: PoolDep, settings: SettingsDep) -> Response:
    token = session_token(request)
    if token is not None:
        await end_session(pool, token)
    response = Response(status_code=204)
    response.delete_cookie(
        settings.auth.cookie_name,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.auth.cookie_secure,
    )
    return response


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


@router.post(
    "/password",
    status_code=204,
    response_class=Response,
    summary="Change your own password; every session of yours ends (log in again)",
    responses={
        401: {"description": "Not logged in, or the current password is wrong."},
        422: {"description": "The new password is too short or too long."},
        429: _LOGIN_ERRORS[429],
    },
)
async def change_password(
    body: PasswordChange, request: Request, user: UserDep, pool: PoolDep, limiters: RateLimitsDep
) -> Response:
    # The same failure bucket as login: a stolen session can't be used to guess the password.
    failure_key = failed_login_key(user.name, client_ip(request, limiters.trusted_proxies))
    if limiters.enabled:
        decision = await limiters.failed_login.take(failure_key)
        if not decision.allowed:
            raise too_many_requests(decision, "failed password checks for this user")
    if await authenticate(pool, user.name, body.current_password) is None:
        raise HTTPException(401, detail="current_password: wrong password")
    if limiters.enabled:
        await limiters.failed_login.refund(failure_key)
    try:
        await update_user(pool, user.id, password=body.new_password)
    except PasswordPolicyError as exc:
        raise HTTPException(422, detail=f"new_password: {exc}") from None
    return Response(status_code=204)


@router.get(
    "/me",
    response_model=UserOut,
    summary="The logged-in user",
    responses={401: READ_ERRORS[401]},
)
async def me(user: UserDep) -> UserOut:
    return UserOut.of(user)
