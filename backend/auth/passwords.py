"""Password hashing with argon2id (argon2-cffi's defaults: RFC 9106 low-memory profile).

Hashing takes tens of milliseconds and 64 MiB on purpose, so it runs in a worker thread, and
at most `_CONCURRENT_HASHES` at once, so a burst of logins can't exhaust memory.
"""

from __future__ import annotations

import asyncio
import functools
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing cost must not be driven by the caller
_CONCURRENT_HASHES = 2


class PasswordPolicyError(ValueError):
    """A new password that is too short or too long; the message says which."""


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"password must be at most {MAX_PASSWORD_LENGTH} characters")


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def _slots() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(_CONCURRENT_HASHES)


@functools.cache
def _decoy_hash() -> str:
    # Verified against when the user does not exist, so timing doesn't reveal which names do.
    return _hasher().hash("decoy password that matches nothing")


def _hash_sync(password: str) -> str:
    with _slots():
        return _hasher().hash(password)


def _verify_sync(stored_hash: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs_rehash)."""
    with _slots():
        try:
            _hasher().verify(stored_hash or _decoy_hash(), password)
        except (VerificationError, InvalidHashError):
            return False, False
        if stored_hash is None:
            return False, False
        return True, _hasher().check_needs_rehash(stored_hash)


async def hash_password(password: str) -> str:
    """An argon2id PHC string (`$argon2id$v=19$…`) for a password that meets the policy."""
    check_password_policy(password)
    return await asyncio.to_thread(_hash_sync, password)


async def verify_password(stored_hash: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs_rehash); `stored_hash=None` (no such user) costs the same and is False."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False, False
    return await asyncio.to_thread(_verify_sync, stored_hash, password)
