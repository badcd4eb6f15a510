"""The backend served over HTTPS in this event loop, for the TLS tests of backend and exporter."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator

from backend.app import create_app
from backend.settings import BackendSettings
from tests.backend.running import uvicorn_serving
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
    async with uvicorn_serving(create_app(settings), port, **options):
        yield f"https://127.0.0.1:{port}"
