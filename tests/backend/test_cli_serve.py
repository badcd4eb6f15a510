"""`serve`'s uvicorn app: the real app behind a wrapper that tunes the GC once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from backend.cli import GC_THRESHOLD, FreezeAfterStartup


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


async def _lifespan_startup(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    return sent


async def test_the_gc_is_frozen_and_relaxed_only_once_startup_completed(restore_gc: None) -> None:
    seen_during_startup: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        seen_during_startup.append(gc.get_freeze_count())
        await send({"type": "lifespan.startup.complete"})

    gc.unfreeze()
    sent = await _lifespan_startup(FreezeAfterStartup(app))

    assert sent == [{"type": "lifespan.startup.complete"}]  # passed on unchanged
    assert seen_during_startup == [0]
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == GC_THRESHOLD


async def test_a_failed_startup_leaves_the_gc_alone(restore_gc: None) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    gc.unfreeze()
    before = gc.get_threshold()
    await _lifespan_startup(FreezeAfterStartup(app))
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, before)


async def test_http_requests_pass_straight_through() -> None:
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["type"])

    await FreezeAfterStartup(app)({"type": "http"}, None, None)  # type: ignore[arg-type]
    assert calls == ["http"]
