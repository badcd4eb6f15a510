"""A small remote_write receiver for the tests (the real one is Prometheus, in
test_forward_prometheus.py): it records every request and answers from a script, so the
answers Prometheus never gives on demand (400, 429 with Retry-After) can be tested."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.backend.forward.test_encode import decode
from tests.conftest import free_port


@dataclass(frozen=True, slots=True)
class Received:
    at: float  # time.monotonic()
    headers: dict[str, str]
    series: list[tuple[dict[str, str], list[tuple[int, float]]]]


@dataclass
class Receiver:
    url: str = ""
    # Answers in turn (status, headers); 204 once they are used up.
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(Received(time.monotonic(), dict(request.headers), decode(body)))
        status, headers = self.script.pop(0) if self.script else (204, {})
        return Response(status_code=status, headers=headers)


@contextlib.asynccontextmanager
async def running_receiver(script: list[tuple[int, dict[str, str]]]) -> AsyncIterator[Receiver]:
    receiver = Receiver(script=list(script))
    app = Starlette(routes=[Route("/api/v1/write", receiver.handle, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers no event to wait on
        if task.done():
            task.result()
            raise RuntimeError("the test receiver stopped during start-up")
        await asyncio.sleep(0.02)
    receiver.url = f"http://127.0.0.1:{port}/api/v1/write"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
