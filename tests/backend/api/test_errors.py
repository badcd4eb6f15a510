"""App-wide error answers: 405 `Allow` for every documented path, and which statuses OpenAPI lists.

The app is built without its lifespan (no services): method routing answers before any
dependency runs, so no PostgreSQL or Redis is needed here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from backend.app import create_app
from backend.settings import BackendSettings

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(BackendSettings(database_url="postgresql://unused@127.0.0.1:1/unused"))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        yield c


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "7", path)


async def test_every_405_allows_exactly_the_documented_methods(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    paths: dict[str, Any] = app.openapi()["paths"]
    checked = 0
    for path, operations in paths.items():
        documented = {method.upper() for method in operations}
        for method in METHODS:
            if method in documented:
                continue
            response = await client.request(method, concrete(path))
            assert response.status_code == 405, (method, path)
            allowed = set(response.headers["Allow"].split(", ")) - {"HEAD"}
            assert allowed == documented, (method, path, response.headers["Allow"])
            checked += 1
    assert checked > 50  # the check walked the whole API, not a corner of it


async def test_a_path_served_by_two_routes_lists_both(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/alert-rules/7")
    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE, GET, PUT"


def test_remote_write_documents_its_refusals(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/api/v1/write"]["post"]
    assert {"204", "400", "401", "413", "415", "503"} <= set(operation["responses"])


def test_every_operation_documents_503_for_a_store_that_is_away(app: FastAPI) -> None:
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            assert "503" in operation["responses"], (method, path)
