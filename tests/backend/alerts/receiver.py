"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records what it is sent."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import free_port


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return orjson.loads(self.raw)


@dataclass
class WebhookReceiver:
    url: str
    received: list[Received] = field(default_factory=list)

    def alerts(self, status: str | None = None, rule: str | None = None) -> list[dict[str, Any]]:
        """Every alert of every webhook body received (Alertmanager's shape), optionally those of
        one status and one alertname."""
        found = [a for r in self.received for a in r.body["alerts"]]
        return [
            a
            for a in found
            if (status is None or a["status"] == status)
            and (rule is None or a["labels"]["alertname"] == rule)
        ]


@contextlib.asynccontextmanager
async def webhook_receiver(port: int | None = None) -> AsyncIterator[WebhookReceiver]:
    port = port or free_port()
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{port}/hook")

    async def hook(request: Request) -> Response:
        receiver.received.append(Received(dict(request.headers), await request.body()))
        return Response(status_code=200)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 15
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise TimeoutError("webhook receiver did not start")
        await asyncio.sleep(0.02)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
