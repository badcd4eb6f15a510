"""The backend's own Prometheus metrics, on a registry per app (never the global one)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.forward.stats import ForwardStats
from backend.storage.sealing import SealingStats

# Ingest requests take ~1 ms; history queries up to ~100 ms; anything beyond 5 s is an outage.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class WriterStats(Protocol):
    @property
    def queue_depth(self) -> int: ...
    @property
    def lag_seconds(self) -> float: ...
    @property
    def written_samples(self) -> int: ...
    @property
    def failed_attempts(self) -> int: ...
    @property
    def duplicate_samples(self) -> int: ...
    @property
    def conflicting_samples(self) -> int: ...
    @property
    def dropped_samples(self) -> int: ...


class _WriterCollector:
    """Reads the writer's counters at scrape time, so nothing has to push them."""

    def __init__(self, writer: WriterStats) -> None:
        self._writer = writer

    def collect(self) -> Iterable[Metric]:
        w = self._writer
        yield GaugeMetricFamily(
            "hostpulse_writer_queue_samples",
            "Samples waiting in the PostgreSQL writer queue.",
            value=w.queue_depth,
        )
        yield GaugeMetricFamily(
            "hostpulse_writer_lag_seconds",
            "Age of the oldest sample waiting in the writer queue.",
            value=w.lag_seconds,
        )
        yield CounterMetricFamily(
            "hostpulse_writer_written_samples",
            "Samples written to PostgreSQL.",
            value=w.written_samples,
        )
        yield CounterMetricFamily(
            "hostpulse_writer_failed_attempts",
            "Write attempts that failed and will be retried.",
            value=w.failed_attempts,
        )
        yield CounterMetricFamily(
            "hostpulse_writer_dropped_samples",
            "Samples (and process tables) dropped because PostgreSQL refused them as data.",
            value=w.dropped_samples,
        )
        dropped = CounterMetricFamily(
            "hostpulse_storage_duplicate_samples",
            "Samples not stored again because their (series, time) was stored already: "
            "'identical' repeated the stored value, 'conflicting' carried another one (the larger "
            "value is kept). stage: where it was noticed (the writer, or the sealing job).",
            labels=["kind", "stage"],
        )
        dropped.add_metric(["identical", "writer"], w.duplicate_samples)
        dropped.add_metric(["conflicting", "writer"], w.conflicting_samples)
        yield dropped


class _SealingCollector:
    """The sealing job's figures, read at scrape time from its `SealingStats`."""

    def __init__(self, stats: SealingStats) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        s = self._stats
        yield CounterMetricFamily(
            "hostpulse_storage_chunks_sealed",
            "Compressed chunks written by this process's sealing job.",
            value=s.chunks_written,
        )
        yield CounterMetricFamily(
            "hostpulse_storage_sealed_samples",
            "Samples this process's sealing job moved from rows into chunks.",
            value=s.samples_sealed,
        )
        dropped = CounterMetricFamily(
            "hostpulse_storage_sealing_duplicate_samples",
            "Samples the sealing job dropped because their (series, time) was stored already.",
            labels=["kind"],
        )
        dropped.add_metric(["identical"], s.duplicates)
        dropped.add_metric(["conflicting"], s.conflicts)
        yield dropped
        yield CounterMetricFamily(
            "hostpulse_storage_sealing_cpu_seconds",
            "CPU seconds of this process's sealing job decoding, merging and encoding chunks "
            "(in a worker thread; its database I/O aside).",
            value=s.cpu_seconds,
        )
        if s.lag_seconds is not None:
            yield GaugeMetricFamily(
                "hostpulse_storage_sealing_lag_seconds",
                "Age of the oldest raw data still in row form below the frontier (between the "
                "grace and grace + 2 h while sealing keeps up).",
                value=s.lag_seconds,
            )
        per_sample = GaugeMetricFamily(
            "hostpulse_storage_bytes_per_sample",
            "Disk bytes per raw sample, indexes and TOAST included: 'head' of the last head "
            "partition sealed, 'sealed' of every chunk partition.",
            labels=["tier"],
        )
        if s.head_bytes_per_sample is not None:
            per_sample.add_metric(["head"], s.head_bytes_per_sample)
        if s.sealed_bytes is not None and s.sealed_samples:
            per_sample.add_metric(["sealed"], s.sealed_bytes / s.sealed_samples)
        yield per_sample


class _ForwardCollector:
    """Per forward target (label `target`): samples sent, failed, dropped, retried; the queue's
    length and lag, reported by the one process sending for the target (0 in the others)."""

    def __init__(self, stats: Sequence[ForwardStats]) -> None:
        self._stats = list(stats)

    def collect(self) -> Iterable[Metric]:
        families = {
            "sent": CounterMetricFamily(
                "hostpulse_forward_sent_samples",
                "Samples the target accepted (2xx).",
                labels=["target"],
            ),
            "failed": CounterMetricFamily(
                "hostpulse_forward_failed_samples",
                "Samples the target refused with a 4xx other than 429 (dropped, not retried).",
                labels=["target"],
            ),
            "dropped": CounterMetricFamily(
                "hostpulse_forward_dropped_samples",
                "Samples dropped because the outbox or the durable queue was full.",
                labels=["target"],
            ),
            "retried": CounterMetricFamily(
                "hostpulse_forward_retried_samples",
                "Samples sent again after a 5xx, a 429 or no answer.",
                labels=["target"],
            ),
        }
        queued = GaugeMetricFamily(
            "hostpulse_forward_queue_samples",
            "Samples in the target's durable queue (from the process sending for it).",
            labels=["target"],
        )
        lag = GaugeMetricFamily(
            "hostpulse_forward_lag_seconds",
            "Age of the oldest body in the target's queue (from the process sending for it).",
            labels=["target"],
        )
        sending = GaugeMetricFamily(
            "hostpulse_forward_sending",
            "1 in the one process that sends for the target, else 0.",
            labels=["target"],
        )
        for s in self._stats:
            families["sent"].add_metric([s.target], s.sent_samples)
            families["failed"].add_metric([s.target], s.failed_samples)
            families["dropped"].add_metric([s.target], s.dropped_samples)
            families["retried"].add_metric([s.target], s.retried_samples)
            queued.add_metric([s.target], s.queue_samples if s.sending else 0)
            lag.add_metric([s.target], s.lag_seconds if s.sending else 0.0)
            sending.add_metric([s.target], 1.0 if s.sending else 0.0)
        yield from families.values()
        yield queued
        yield lag
        yield sending


class BackendMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.forward_stats: list[ForwardStats] = []  # one per forward target
        r = self.registry
        self._samples = Counter(
            "hostpulse_ingest_samples",
            "Samples accepted, by ingest protocol.",
            ["protocol"],
            registry=r,
        )
        self._batches = Counter(
            "hostpulse_ingest_requests",
            "Ingest requests accepted, by protocol.",
            ["protocol"],
            registry=r,
        )
        self._rejected = Counter(
            "hostpulse_ingest_rejected",
            "Ingest requests refused, by protocol and reason.",
            ["protocol", "reason"],
            registry=r,
        )
        self.request_duration = Histogram(
            "http_server_request_duration_seconds",
            "HTTP request latency by route.",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._request_children: dict[tuple[str, str, int], Histogram] = {}
        self._live_clients = Gauge(
            "hostpulse_live_clients", "WebSocket clients connected to /ws.", registry=r
        )
        self._dropped_frames = Counter(
            "hostpulse_live_dropped_frames",
            "Live frames skipped because a WebSocket client was too slow.",
            registry=r,
        )
        self._dispatched_frames = Counter(
            "hostpulse_live_dispatched_frames",
            "Live frames this process handed to the WebSocket clients subscribed to their host.",
            registry=r,
        )
        self._slow_clients_closed = Counter(
            "hostpulse_live_slow_clients_closed",
            "WebSocket clients closed for staying too far behind.",
            registry=r,
        )
        self._redis_errors = Counter(
            "hostpulse_redis_errors",
            "Redis operations that failed (recent window, live publish, subscription).",
            ["operation"],
            registry=r,
        )
        self._redis_skipped = Counter(
            "hostpulse_ingest_redis_skipped_batches",
            "Accepted batches (stored in PostgreSQL) that missed the recent window and the live "
            "and alert channels: Redis was away or too far behind.",
            registry=r,
        )
        self._job_leading = Gauge(
            "hostpulse_job_leading",
            "1 while this process runs the once-only job (scraping, retention, sealing, "
            "forward:<target>): one process of all those on the database does.",
            ["job"],
            registry=r,
        )
        self._alert_leading = Gauge(
            "hostpulse_alert_evaluator_leading",
            "1 while this process holds the alert lease and evaluates the rules (one process at "
            "a time does).",
            registry=r,
        )
        self._dropped_observations = Counter(
            "hostpulse_alert_dropped_observations",
            "Samples the alert evaluator dropped because its queue was full.",
            registry=r,
        )

    # Called by ingest routes (INGEST) and the pipeline.
    def ingest_samples(self, protocol: str, n: int) -> None:
        self._samples.labels(protocol=protocol).inc(n)

    def ingest_request(self, protocol: str) -> None:
        self._batches.labels(protocol=protocol).inc()

    def ingest_rejected(self, protocol: str, reason: str) -> None:
        self._rejected.labels(protocol=protocol, reason=reason).inc()

    def redis_error(self, operation: str) -> None:
        self._redis_errors.labels(operation=operation).inc()

    def redis_skipped(self, batches: int) -> None:
        self._redis_skipped.inc(batches)

    def frames_dropped(self, n: int = 1) -> None:
        self._dropped_frames.inc(n)

    def frames_dispatched(self) -> None:
        self._dispatched_frames.inc()

    def observations_dropped(self, n: int) -> None:
        self._dropped_observations.inc(n)

    def slow_client_closed(self) -> None:
        self._slow_clients_closed.inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        child = self._request_children.get(key)
        if child is None:  # `labels()` costs more than the observation; routes are few
            child = self.request_duration.labels(method, route, str(status))
            self._request_children[key] = child
        child.observe(seconds)

    def watch_writer(self, writer: WriterStats) -> None:
        self.registry.register(_WriterCollector(writer))

    def watch_sealing(self, stats: SealingStats) -> None:
        self.registry.register(_SealingCollector(stats))

    def watch_leadership(self, job: str, leading: Callable[[], bool]) -> None:
        self._job_leading.labels(job).set_function(lambda: 1.0 if leading() else 0.0)

    def watch_forwarding(self, stats: Sequence[ForwardStats]) -> None:
        self.forward_stats = list(stats)
        self.registry.register(_ForwardCollector(self.forward_stats))

    def watch_live_clients(self, count: Callable[[], int]) -> None:
        self._live_clients.set_function(count)

    def watch_alert_leadership(self, leading: Callable[[], bool]) -> None:
        self._alert_leading.set_function(lambda: 1.0 if leading() else 0.0)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry rendered as OpenMetrics when asked by Accept, else text format 0.0.4."""
        if accept and "application/openmetrics-text" in accept:
            body: bytes = openmetrics.generate_latest(self.registry)  # type: ignore[no-untyped-call]
            return body, openmetrics.CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


class RequestMetricsMiddleware:
    """Times every HTTP request into `http_server_request_duration_seconds`, labelled by the
    route template (`/api/hosts`), never the raw path, so label values stay bounded."""

    def __init__(self, app: ASGIApp, metrics: BackendMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                scope["method"], template, status, time.perf_counter() - started
            )
