"""Unstorable text (NUL, unpaired surrogates) and out-of-range ids are 422s naming the field.

The first group is the pure finder; the second drives the real app (no lifespan: the guard and
parameter validation answer before any route touches PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from backend.api.text_guard import find_problem
from backend.app import create_app
from backend.ingest.limits import unstorable
from backend.settings import BackendSettings
from tests.backend.running import RunningBackend


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ok", None),
        ("caf\u00e9 \U0001f600", None),  # a paired surrogate in JSON is a real character
        ("a\x00b", "NUL"),
        ("\ud800", "surrogate"),
        ("x\udfffy", "surrogate"),
    ],
)
def test_unstorable(text: str, problem: str | None) -> None:
    found = unstorable(text)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_the_location_is_the_field_path() -> None:
    body = b'{"name": "r", "labels": {"team": "a\\u0000b"}, "list": ["ok", "\\ud83d"]}'
    assert find_problem(b"", body) == (("body", "labels", "team"), "contains a NUL character")
    surrogate = b'{"list": ["ok", "\\ud83d"]}'
    assert find_problem(b"", surrogate)[0] == ("body", "list", 1)  # type: ignore[index]
    assert find_problem(b"host=web%001", None) == (("query", "host"), "contains a NUL character")
    assert find_problem(b"", b'{"emoji": "\\ud83d\\ude00"}') is None
    assert find_problem(b"", b"not json") is None  # the route's own parser answers


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(BackendSettings(database_url="postgresql://unused@127.0.0.1:1/unused"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        yield c


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("POST", "/api/alert-rules", '{"name": "r", "labels": {"a\\u0000": "x"}}', "labels"),
        ("POST", "/api/auth/login", '{"username": "\\ud800", "password": "x"}', "username"),
        ("GET", "/api/hosts?search=%00", None, "search"),
    ],
)
async def test_unstorable_text_is_422_naming_the_field(
    client: httpx.AsyncClient, method: str, path: str, body: str | None, loc: str
) -> None:
    response = await client.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert loc in error["loc"][1] or loc in error["msg"]
    assert "\x00" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/alert-rules/9223372036854775808"),  # 2^63: one beyond bigint
        ("POST", "/api/alert-rules/99999999999999999999999999/enable"),
        ("DELETE", "/api/agent-tokens/9223372036854775808"),
        ("PATCH", "/api/webhooks/-1"),
        ("DELETE", "/api/alerts/mutes/0"),
        ("DELETE", "/api/users/18446744073709551616"),
    ],
)
async def test_ids_beyond_bigint_are_422_not_500(
    backend: RunningBackend, method: str, path: str
) -> None:
    """Against the running backend, as an admin: the id never reaches PostgreSQL."""
    json_body: dict[str, object] | None = {} if method == "PATCH" else None
    response = await backend.client.request(method, path, json=json_body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "path"


async def test_an_id_in_range_that_names_nothing_is_404(backend: RunningBackend) -> None:
    response = await backend.client.get("/api/alert-rules/9223372036854775807")
    assert response.status_code == 404


async def test_nul_in_a_stored_field_is_422_on_the_running_backend(
    backend: RunningBackend,
) -> None:
    response = await backend.client.post(
        "/api/alerts/mutes",
        json={"host": "web\x00-1", "until": "2099-01-01T00:00:00Z"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "host"]
