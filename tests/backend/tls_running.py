"""The backend served over HTTPS in this event loop, for the TLS tests of backend and exporter."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn

from backend.app import create_app
from backend.settings import BackendSettings
from tests.conftest import free_port


def trusting(ca: object, cert: object = None, key: object = None) -> ssl.SSLContext:
    """A client context trusting only `ca`, optionally presenting a client certificate."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


@contextlib.asynccontextmanager
async def serve_tls(settings: BackendSettings) -> AsyncIterator[str]:
    """uvicorn with the settings' TLS options (as `hostpulse-backend serve` passes them);
    yields the https:// base URL."""
    options = settings.uvicorn_ssl_options()
    assert options, "settings without tls_cert/tls_key"
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        ws_per_message_deflate=False,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done():
            task.result()
            pytest.fail("uvicorn stopped during start-up")
        if time.monotonic() > deadline:
            pytest.fail("backend did not start within 30s")
        await asyncio.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
