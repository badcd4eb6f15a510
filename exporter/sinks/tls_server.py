"""HTTPS for /metrics: the web config's `tls_server_config`, with certificates reloaded on change.

Each connection's TLS handshake runs in that connection's thread (never in the accept loop, where
one slow client would hold up every scrape). The certificate, key and client CA files are checked
for changes at most once a second; a renewed certificate is used from the next connection on, and
a renewal that does not load (say, the key written after the certificate) keeps the previous one
with a warning, as exporter-toolkit does by reading the files at each handshake.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import threading
import time
from typing import Any

from prometheus_client.exposition import ThreadingWSGIServer

from exporter.tls_files import server_context
from exporter.web_config import TlsServerConfig

_log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_SECONDS = 10.0
IDLE_TIMEOUT_SECONDS = 60.0
RECHECK_SECONDS = 1.0


def _stamp(path: Any) -> tuple[float, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime, info.st_size)


class ReloadingContext:
    """The server's SSLContext, rebuilt when its files change."""

    def __init__(self, config: TlsServerConfig) -> None:
        self._config = config
        self._files = [p for p in (config.cert_file, config.key_file, config.client_ca_file) if p]
        self._lock = threading.Lock()
        self._stamps = self._current_stamps()
        self._context = self._build()  # at start, a failure is the caller's error to report
        self._checked = time.monotonic()

    def _current_stamps(self) -> list[tuple[float, int] | None]:
        return [_stamp(path) for path in self._files]

    def _build(self) -> ssl.SSLContext:
        c = self._config
        return server_context(
            c.cert_file,
            c.key_file,
            c.client_ca_file,
            c.client_auth_type,
            c.min_version,
            c.max_version,
        )

    def get(self) -> ssl.SSLContext:
        now = time.monotonic()
        if now - self._checked < RECHECK_SECONDS:
            return self._context
        with self._lock:
            if now - self._checked < RECHECK_SECONDS:
                return self._context
            self._checked = now
            stamps = self._current_stamps()
            if stamps != self._stamps:
                try:
                    self._context = self._build()
                    self._stamps = stamps
                    _log.info("web config: TLS certificate reloaded")
                except ValueError as exc:
                    _log.warning(
                        "web config: TLS files changed but do not load; keeping the previous ones",
                        extra={"fields": {"reason": str(exc)}},
                    )
            return self._context


def tls_server_class(
    base: type[ThreadingWSGIServer], contexts: ReloadingContext
) -> type[ThreadingWSGIServer]:
    """`base` speaking TLS on every connection."""

    class TlsServer(base):  # type: ignore[misc, valid-type]
        def finish_request(self, request: Any, client_address: Any) -> None:
            sock: socket.socket = request
            sock.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            try:
                tls = contexts.get().wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                # A plain-HTTP client, a wrong CA, a port scan: nothing to serve.
                _log.debug("TLS handshake failed", extra={"fields": {"reason": str(exc)}})
                return
            try:
                tls.settimeout(IDLE_TIMEOUT_SECONDS)
                super().finish_request(tls, client_address)
            finally:
                with contextlib.suppress(OSError):
                    tls.close()

    return TlsServer
