"""The first admin from the environment on first start (`auth.initial_admin_user/_password`)."""

from __future__ import annotations

import logging

import asyncpg

from backend.auth.settings import AuthSettings
from backend.users.store import UserExistsError, create_user, find_user

log = logging.getLogger(__name__)


async def ensure_initial_admin(pool: asyncpg.Pool, settings: AuthSettings) -> bool:
    """Create the configured admin unless that name exists (never overwrites a password).
    True when created now."""
    if settings.initial_admin_user is None or settings.initial_admin_password is None:
        return False
    name = settings.initial_admin_user
    if await find_user(pool, name) is not None:
        return False
    try:
        await create_user(pool, name, settings.initial_admin_password.get_secret_value(), "admin")
    except UserExistsError:  # another worker created it a moment ago
        return False
    log.info("created the initial admin %r from the environment", name)
    return True
