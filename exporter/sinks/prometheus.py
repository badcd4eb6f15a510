"""The Prometheus output: a registry built from the latest snapshot, served on `/metrics`.

`build_registry` makes a NEW registry (never the global one) whose one collector renders the newest
`Snapshot`. `PrometheusSink` serves it, negotiating as prometheus_client does (text 0.0.4,
OpenMetrics when asked, gzip when accepted), with bodies from the fast encoder `prometheus_text`.
"""

from __future__ import annotations

import errno
import gzip
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client.exposition import ThreadingWSGIServer, gzip_accepted, make_wsgi_app
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from exporter import __version__
from exporter.model import Snapshot
from exporter.options import PrometheusOptions
from exporter.sinks.prometheus_families import snapshot_families
from exporter.sinks.prometheus_text import negotiate, render

_log = logging.getLogger(__name__)

_ROOT_HINT = b"HostPulse exporter: metrics at /metrics, health at /healthz\n"
_LISTEN_EXAMPLE = "e.g. 127.0.0.1:9860, 0.0.0.0:9860 or [::1]:9860"
_LISTEN = "prometheus.listen"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class SnapshotCollector(Collector):
    """Yields the latest snapshot's families, translating each snapshot only once."""

    def __init__(self, get_snapshot: Callable[[], Snapshot | None], service_version: str) -> None:
        self._get_snapshot = get_snapshot
        self._service_version = service_version
        self._cache: tuple[Snapshot, list[Metric]] | None = None
        self._reported_rejects: set[str] = set()

    def describe(self) -> list[Metric]:
        # Names vary with the snapshot; an empty describe keeps register() from collecting early.
        return []

    def collect(self) -> list[Metric]:
        current = self.current()
        return current[1] if current is not None else []

    def current(self) -> tuple[Snapshot, list[Metric]] | None:
        """The latest snapshot and its families (None before the first snapshot)."""
        snapshot = self._get_snapshot()
        if snapshot is None:
            return None
        cache = self._cache
        if cache is not None and cache[0] is snapshot:
            return cache
        exposition = snapshot_families(snapshot, service_version=self._service_version)
        for name in exposition.rejected:
            if name not in self._reported_rejects:  # once per name, not once per scrape
                self._reported_rejects.add(name)
                _log.warning("metric skipped in Prometheus output", extra={"metric": name})
        cache = (snapshot, exposition.families)
        self._cache = cache
        return cache


def build_registry(
    get_snapshot: Callable[[], Snapshot | None], *, service_version: str = __version__
) -> CollectorRegistry:
    """A fresh registry whose collector renders whatever `get_snapshot()` returns at scrape time."""
    return _registry_with(SnapshotCollector(get_snapshot, service_version))


def _registry_with(collector: SnapshotCollector) -> CollectorRegistry:
    # "Without names": our names vary per snapshot, and `?name[]=` filtering must still find them.
    registry = CollectorRegistry(auto_describe=False, support_collectors_without_names=True)
    registry.register(collector)
    return registry


class MetricsEndpoint:
    """`/metrics`: our fast encoder, rendered and gzipped once per snapshot and format.

    Requests our encoder does not cover (`name[]` filters, other formats) go to prometheus_client.
    """

    def __init__(self, collector: SnapshotCollector, registry: CollectorRegistry) -> None:
        self._collector = collector
        self._fallback: WsgiApp = make_wsgi_app(registry)
        self._lock = threading.Lock()
        self._bodies: dict[tuple[str, bool], bytes] = {}
        self._bodies_for: Snapshot | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        negotiated = negotiate(environ.get("HTTP_ACCEPT"))
        plain_get = environ.get("REQUEST_METHOD") == "GET" and "name[]" not in environ.get(
            "QUERY_STRING", ""
        )
        if negotiated is None or not plain_get:
            return self._fallback(environ, start_response)
        format_name, content_type = negotiated
        gzipped = gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING") or "")
        body = self._body(format_name, gzipped)
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [body]

    def _body(self, format_name: str, gzipped: bool) -> bytes:
        current = self._collector.current()
        snapshot, families = current if current is not None else (None, [])
        key = (format_name, gzipped)
        with self._lock:
            if self._bodies_for is not snapshot:
                self._bodies, self._bodies_for = {}, snapshot
            body = self._bodies.get(key)
        if body is None:
            body = render(families, format_name)
            if gzipped:
                # Level 1: a third of level 6's CPU for a body ~1.6x larger; scrapes are frequent.
                body = gzip.compress(body, compresslevel=1)
            with self._lock:
                if self._bodies_for is snapshot:
                    self._bodies[key] = body
        return body


def parse_listen_address(listen: str) -> tuple[str, int]:
    """`host:port` or `[ipv6]:port` → (host, port); a ValueError naming prometheus.listen if not."""
    text = listen.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or not rest.startswith(":") or not host:
            raise ValueError(f"{_LISTEN}: {listen!r} is not [ipv6]:port ({_LISTEN_EXAMPLE})")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise ValueError(f"{_LISTEN}: {listen!r} has no port ({_LISTEN_EXAMPLE})")
        if ":" in host:
            raise ValueError(
                f"{_LISTEN}: {listen!r}: put an IPv6 address in brackets ({_LISTEN_EXAMPLE})"
            )
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(
            f"{_LISTEN}: {listen!r}: port must be a number from 0 to 65535 ({_LISTEN_EXAMPLE})"
        )
    return host or "0.0.0.0", int(port_text)


def make_app(metrics_app: WsgiApp) -> WsgiApp:
    """`/metrics` (gzip and OpenMetrics when asked), `/healthz`, and a hint at `/`."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            body, status = b"ok\n", "200 OK"
        elif path == "/":
            body, status = _ROOT_HINT, "200 OK"
        else:
            body, status = b"not found: try /metrics\n", "404 Not Found"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood stderr."""


def _server_class(host: str, port: int) -> type[ThreadingWSGIServer]:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    class Server(ThreadingWSGIServer):
        address_family = family

    return Server


class PrometheusSink:
    """Serves the newest snapshot on `config.listen`; `submit()` only swaps a reference."""

    name = "prometheus"

    def __init__(self, config: PrometheusOptions, *, service_version: str = __version__) -> None:
        self._listen = config.listen
        self._host, self._port = parse_listen_address(config.listen)
        self._snapshot: Snapshot | None = None
        self._collector = SnapshotCollector(lambda: self._snapshot, service_version)
        self.registry = _registry_with(self._collector)
        self._server: ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._web_config = config.web_config

    @property
    def port(self) -> int:
        """The bound port (differs from the configured one when that was 0)."""
        if self._server is None:
            return self._port
        port: int = self._server.server_address[1]
        return port

    def start(self) -> None:
        app = make_app(MetricsEndpoint(self._collector, self.registry))
        contexts = None
        web = self._web_config
        if web is not None:
            from exporter.sinks.web_auth import BasicAuth, with_headers

            if web.basic_auth_users:
                app = BasicAuth(web.basic_auth_users).wrap(app)
            app = with_headers(app, web.headers)
            if web.tls is not None:
                from exporter.sinks.tls_server import ReloadingContext

                try:
                    contexts = ReloadingContext(web.tls)
                except ValueError as exc:
                    raise OSError(errno.EINVAL, str(exc)) from exc
        try:
            server_class = _server_class(self._host, self._port)
            if contexts is not None:
                from exporter.sinks.tls_server import tls_server_class

                server_class = tls_server_class(server_class, contexts)
            server = make_server(
                self._host,
                self._port,
                app,
                server_class=server_class,
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(
                    exc.errno,
                    f"prometheus.listen {self._listen}: address already in use "
                    "(is another exporter running?); choose another with --listen",
                ) from exc
            raise OSError(
                exc.errno, f"prometheus.listen {self._listen}: cannot listen: {exc.strerror or exc}"
            ) from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="prometheus-http",
            daemon=True,
        )
        self._thread.start()

    def submit(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def shutdown(self, deadline_seconds: float) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=max(deadline_seconds, 0.0))
