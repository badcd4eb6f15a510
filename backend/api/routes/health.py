"""`/healthz` (the process is alive) and `/readyz` (PostgreSQL and Redis answer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from backend.api.deps import PoolDep, RedisDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

_CHECK_TIMEOUT = 2.0


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Literal["ok", "unreachable"]]
    detail: str | None = None


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: PostgreSQL and Redis are reachable",
    responses={503: {"model": Readiness, "description": "A dependency is unreachable."}},
)
async def readyz(pool: PoolDep, redis: RedisDep) -> JSONResponse:
    postgres_ok, redis_ok = await asyncio.gather(
        _check(pool.fetchval("SELECT 1")), _check(redis.ping())
    )
    checks: dict[str, Literal["ok", "unreachable"]] = {
        "postgresql": "ok" if postgres_ok else "unreachable",
        "redis": "ok" if redis_ok else "unreachable",
    }
    down = [name for name, state in checks.items() if state != "ok"]
    if not down:
        return JSONResponse(Readiness(status="ready", checks=checks).model_dump())
    body = Readiness(status="not ready", checks=checks, detail=f"unreachable: {', '.join(down)}")
    return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})


async def _check(probe: Awaitable[object]) -> bool:
    try:
        await asyncio.wait_for(probe, _CHECK_TIMEOUT)
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness check failed: %r", exc)
        return False
    return True
