"""Parameter types the API routes share, each refusing with 422 what storage could not take."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator

BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint: an id beyond it names no row and cannot be queried

RowId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="A row id (1 to 2^63-1).")]

_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?([Zz]|[+-]\d\d:?\d\d)?", re.ASCII
)


def _rfc3339_only(value: object) -> object:
    """Pydantic also reads numbers as Unix seconds; the API documents (and takes) RFC 3339."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339.fullmatch(value.strip()):
        return value
    raise ValueError("must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z")


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339_only)]
