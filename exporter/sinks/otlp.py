"""The OTLP output: an OTel SDK MeterProvider whose observable instruments read the latest snapshot.

Never the global MeterProvider. Only the exporter for the configured protocol is imported: the gRPC
one pulls in grpcio (~15 MB of RSS), which an agent pushing OTLP/HTTP must not pay for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from conventions.naming import Kind
from exporter import __version__
from exporter.model import Metric, Snapshot
from exporter.options import OtlpOptions

_log = logging.getLogger(__name__)

SERVICE_NAME = "hostpulse-exporter"
HTTP_METRICS_PATH = "/v1/metrics"
# The SDK would read OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE; HostPulse always sends
# cumulative sums, which every backend (Prometheus' OTLP receiver included) accepts.
_CUMULATIVE: dict[type, AggregationTemporality] = {
    kind: AggregationTemporality.CUMULATIVE
    for kind in (
        Counter,
        UpDownCounter,
        Histogram,
        ObservableCounter,
        ObservableUpDownCounter,
        ObservableGauge,
    )
}
# The SDK keeps state (~2.6 kB) for every attribute set an observable instrument ever reported,
# and the top-N processes come and go with new pid/rank attributes: on a busy host that grows by
# MBs an hour until the SDK's 2,000-set limit per instrument folds new processes into one overflow
# point. Past this many process series (all instruments together) since the provider was built,
# the sink starts a fresh provider: at most ~2.6 MB of such state, and never an overflow.
DEFAULT_PROCESS_SERIES_LIMIT = 1000
_PROCESS_PREFIX = "process."
_FACTORIES = {
    Kind.COUNTER: "create_observable_counter",
    Kind.GAUGE: "create_observable_gauge",
    Kind.UPDOWN: "create_observable_up_down_counter",
}

Observer = Callable[[CallbackOptions], Iterable[Observation]]


def http_metrics_url(endpoint: str) -> str:
    """A base URL (`http://host:4318`) gets the standard `/v1/metrics`; a full one is kept as is."""
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=HTTP_METRICS_PATH))
    return endpoint


def validate_endpoint(config: OtlpOptions) -> None:
    """ValueError naming otlp.endpoint unless it is an http:// or https:// URL with a host."""
    parts = urlsplit(config.endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"otlp.endpoint: {config.endpoint!r} must be a URL such as http://127.0.0.1:4317"
        )


def ca_file_session() -> Any:
    """A requests Session whose own `verify` (the CA file) wins over REQUESTS_CA_BUNDLE and
    CURL_CA_BUNDLE: plain requests lets those environment variables override a session's CA
    file (psf/requests#3829), so a CA given in the config would silently not be used."""
    import requests

    class CaFileSession(requests.Session):
        def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
            settings["verify"] = self.verify
            return settings

    return CaFileSession()


def grpc_credentials(config: OtlpOptions) -> Any:
    """gRPC channel credentials from ca_file / client cert for https:// (None: the SDK's own)."""
    if urlsplit(config.endpoint).scheme != "https" or (
        config.ca_file is None and config.client_cert is None
    ):
        return None
    import grpc

    def read(path: Any) -> bytes | None:
        return None if path is None else Path(path).read_bytes()

    return grpc.ssl_channel_credentials(
        root_certificates=read(config.ca_file),
        private_key=read(config.client_key),
        certificate_chain=read(config.client_cert),
    )


def build_metric_exporter(config: OtlpOptions) -> MetricExporter:
    """The OTLP exporter for `config.protocol`, importing only that protocol's package."""
    headers = {key: value.get_secret_value() for key, value in config.headers.items()}
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcExporter,
        )

        # The URL scheme decides: http:// is plaintext, https:// is TLS (as the SDK does by itself).
        grpc_exporter: MetricExporter = GrpcExporter(
            endpoint=config.endpoint,
            insecure=urlsplit(config.endpoint).scheme == "http",
            credentials=grpc_credentials(config),
            headers={key.lower(): value for key, value in headers.items()},  # gRPC metadata rule
            timeout=config.timeout,
            preferred_temporality=_CUMULATIVE,
        )
        return grpc_exporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpExporter,
    )

    tls: dict[str, Any] = {}
    if urlsplit(config.endpoint).scheme == "https":
        tls = {
            "certificate_file": None if config.ca_file is None else str(config.ca_file),
            "client_certificate_file": None
            if config.client_cert is None
            else str(config.client_cert),
            "client_key_file": None if config.client_key is None else str(config.client_key),
            "session": ca_file_session() if config.ca_file is not None else None,
        }
    http_exporter: MetricExporter = HttpExporter(
        endpoint=http_metrics_url(config.endpoint),
        **tls,
        headers=headers,
        timeout=config.timeout,
        preferred_temporality=_CUMULATIVE,
    )
    return http_exporter


def _observations(metrics: Sequence[Metric]) -> list[Observation]:
    return [Observation(point.value, point.attributes) for m in metrics for point in m.points]


class OtlpSink:
    """Pushes the newest snapshot every `config.interval`; `submit()` only swaps a reference."""

    name = "otlp"

    def __init__(
        self,
        config: OtlpOptions,
        *,
        host_name: str,
        host_id: str,
        service_version: str = __version__,
        process_series_limit: int = DEFAULT_PROCESS_SERIES_LIMIT,
    ) -> None:
        validate_endpoint(config)
        self._config = config
        self._process_series_limit = process_series_limit
        self._process_series: set[int] = set()  # hashes of (name, attributes) seen
        self._retiring: list[threading.Thread] = []
        self.generations = 0  # providers built so far (1 + rotations)
        self._service_version = service_version
        self._resource_attributes = {
            "host.name": host_name,
            "host.id": host_id,
            "service.name": SERVICE_NAME,
            "service.version": service_version,
        }
        # (snapshot, metrics by OTel name): swapped whole, so callbacks never see a half update.
        self._latest: tuple[Snapshot, dict[str, list[Metric]]] | None = None
        self._instruments: dict[str, Kind] = {}
        self._instrument_lock = threading.Lock()
        self._provider: MeterProvider | None = None
        self._meter: Meter | None = None
        self._reported_conflicts: set[str] = set()

    def start(self) -> None:
        self._provider, self._meter = self._build_provider()
        latest = self._latest
        if latest is not None:
            self._ensure_instruments(latest[1])

    def _build_provider(self) -> tuple[MeterProvider, Meter]:
        reader = PeriodicExportingMetricReader(
            build_metric_exporter(self._config),
            export_interval_millis=self._config.interval * 1000,
            export_timeout_millis=self._config.timeout * 1000,
        )
        provider = MeterProvider(
            metric_readers=[reader],
            resource=Resource.create(self._resource_attributes),
            shutdown_on_exit=False,  # the agent shuts us down within its deadline
            # No spans in the agent, so no exemplars to sample: skip the per-measurement check.
            exemplar_filter=AlwaysOffExemplarFilter(),
        )
        meter = provider.get_meter(SERVICE_NAME, self._service_version)
        meter.create_observable_gauge(
            "hostpulse.collector.duration",
            callbacks=[self._observe_health(lambda r: r.duration_seconds)],
            unit="s",
            description="Seconds the collector's last run took.",
        )
        meter.create_observable_gauge(
            "hostpulse.collector.success",
            callbacks=[self._observe_health(lambda r: 1.0 if r.success else 0.0)],
            description="1 if the collector's last run succeeded, 0 if it failed.",
        )
        self.generations += 1
        return provider, meter

    def _count_process_series(self, by_name: dict[str, list[Metric]]) -> None:
        seen = self._process_series
        for name, metrics in by_name.items():
            if name.startswith(_PROCESS_PREFIX):
                for metric in metrics:
                    seen.update(hash((name, *sorted(p.attributes.items()))) for p in metric.points)
        if len(seen) > self._process_series_limit:
            self._rotate()

    def _rotate(self) -> None:
        """A fresh provider without the stale series; the old one exports once more and stops."""
        old = self._provider
        provider, meter = self._build_provider()
        with self._instrument_lock:
            self._provider, self._meter, self._instruments = provider, meter, {}
        self._process_series.clear()
        latest = self._latest
        if latest is not None:
            self._ensure_instruments(latest[1])
        if old is not None:  # its last export may wait on the network: never in this thread
            retire = threading.Thread(
                target=old.shutdown,
                kwargs={"timeout_millis": self._config.timeout * 1000},
                name="otlp-retire",
                daemon=True,
            )
            retire.start()
            self._retiring = [t for t in self._retiring if t.is_alive()] + [retire]

    def submit(self, snapshot: Snapshot) -> None:
        by_name: dict[str, list[Metric]] = {}
        for metric in snapshot.metrics():
            by_name.setdefault(metric.name, []).append(metric)
        self._latest = (snapshot, by_name)
        if self._provider is not None:
            self._count_process_series(by_name)
        if self._meter is not None and not by_name.keys() <= self._instruments.keys():
            self._ensure_instruments(by_name)

    def flush(self, timeout_seconds: float) -> bool:
        """Export now (used by tests and benchmarks); False if not started or it timed out."""
        provider = self._provider
        return provider is not None and provider.force_flush(timeout_millis=timeout_seconds * 1000)

    def shutdown(self, deadline_seconds: float) -> None:
        ends_at = time.monotonic() + deadline_seconds
        provider, self._provider, self._meter = self._provider, None, None
        if provider is not None:
            # The reader makes one last collection and export, bounded by the deadline.
            provider.shutdown(timeout_millis=max(deadline_seconds, 0.001) * 1000)
        for retire in self._retiring:
            retire.join(timeout=max(0.0, ends_at - time.monotonic()))

    def _ensure_instruments(self, by_name: dict[str, list[Metric]]) -> None:
        meter = self._meter
        if meter is None:
            return
        with self._instrument_lock:
            for name, metrics in by_name.items():
                first = metrics[0]
                known = self._instruments.get(name)
                if known is None:
                    factory: Callable[..., Any] = getattr(meter, _FACTORIES[first.kind])
                    factory(
                        name,
                        callbacks=[self._observe_metric(name, first.kind)],
                        unit=first.unit,
                        description=first.description,
                    )
                    self._instruments[name] = first.kind
                elif known is not first.kind and name not in self._reported_conflicts:
                    self._reported_conflicts.add(name)
                    _log.warning(
                        "metric changed kind; OTLP keeps the first",
                        extra={"metric": name, "kind": str(first.kind), "kept": str(known)},
                    )

    def _observe_metric(self, name: str, kind: Kind) -> Observer:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            latest = self._latest
            if latest is None:
                return []
            return _observations([m for m in latest[1].get(name, ()) if m.kind is kind])

        return observe

    def _observe_health(self, value: Callable[[Any], float]) -> Observer:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            latest = self._latest
            if latest is None:
                return []
            return [
                Observation(value(result), {"collector": result.collector})
                for result in latest[0].results
            ]

        return observe
