"""The dashboard's web app: the UI's files, `/config.json`, `/healthz` and its security headers."""

from __future__ import annotations

import posixpath
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from dashboards.app import (
    STATIC_DIR,
    DashboardSettings,
    DashboardSettingsError,
    content_security_policy,
    create_app,
)

BACKEND = "http://127.0.0.1:8123"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(DashboardSettings(backend_url=BACKEND + "/"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client:
        yield client


async def test_config_json_names_the_backend(client: httpx.AsyncClient) -> None:
    response = await client.get("/config.json")
    assert response.status_code == 200
    assert response.json() == {"backend_url": BACKEND}
    assert response.headers["cache-control"] == "no-store"


async def test_healthz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_index_and_static_files_are_served(client: httpx.AsyncClient) -> None:
    index = await client.get("/")
    assert index.status_code == 200
    assert '<script type="module" src="/static/js/main.js">' in index.text
    for path in ("/static/js/main.js", "/static/style.css", "/static/vendor/uplot/LICENSE"):
        assert (await client.get(path)).status_code == 200, path
    live_js = await client.get("/static/js/live/connection.js")
    assert "javascript" in live_js.headers["content-type"]


# The modules a first view needs: main.js, the default route (fleet) and a link to a host.
START_MODULES = ("js/main.js", "js/views/fleet.js", "js/views/host.js")
STATIC_IMPORT = re.compile(r'^import [^;]*? from "(\.{1,2}/[^"]+)";', re.MULTILINE)


def statically_imported(starts: tuple[str, ...]) -> set[str]:
    """The modules `starts` import, directly or not (`import()` of other views aside)."""
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        text = (STATIC_DIR / module).read_text()
        folder = posixpath.dirname(module)
        todo += [posixpath.normpath(posixpath.join(folder, d)) for d in STATIC_IMPORT.findall(text)]
    return seen


def test_index_preloads_what_the_first_view_needs_and_nothing_else() -> None:
    """A module left out is fetched only once its importer is parsed (a round trip more before
    the first render); one preloaded for a later view competes with the first for connections."""
    index = (STATIC_DIR / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/(js/[^"]+)">', index))
    assert preloaded == statically_imported(START_MODULES) - {"js/main.js"}
    every_module = {p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.glob("js/**/*.js")}
    assert preloaded < every_module  # the other views load when first shown


async def test_every_response_carries_security_headers(client: httpx.AsyncClient) -> None:
    for path in ("/", "/config.json", "/static/js/api.js", "/no-such-page"):
        headers = (await client.get(path)).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path


def test_csp_lets_the_page_reach_only_its_backend() -> None:
    csp = content_security_policy("https://metrics.example.org:8443/base")
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["connect-src"] == (
        "'self' https://metrics.example.org:8443 wss://metrics.example.org:8443"
    )
    assert directives["script-src"] == "'self'"


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "http://", ""])
def test_a_backend_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(DashboardSettingsError, match="backend_url"):
        DashboardSettings(backend_url=url)
