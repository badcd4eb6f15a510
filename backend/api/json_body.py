"""Read-API answers encoded straight to JSON: thousands of samples or points through pydantic
response models would cost far more than the query that found them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import Response


def json_response(body: Any) -> Response:
    """`body` (shaped as the route's documented response model) as an application/json answer."""
    return Response(orjson.dumps(body, default=_plain), media_type="application/json")


def _plain(value: object) -> object:
    """orjson's fallback for read-only mappings and tuples-like sequences from storage."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
