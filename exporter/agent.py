"""The agent: a collection thread feeding snapshots to every enabled output, and a clean stop.

`build_agent(config)` wires the real collectors and sinks (imported lazily, so a disabled output's
libraries are never loaded); `Agent` itself takes them ready-made so tests can pass fakes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from exporter import __version__
from exporter.agent_health import AgentHealth
from exporter.host_identity import resolve_host_id, resolve_host_name
from exporter.model import Snapshot
from exporter.options import AgentOptions
from exporter.scheduler import CollectionScheduler, ScheduledLike
from exporter.sinks.base import Sink

log = logging.getLogger(__name__)


class Agent:
    """`run()` blocks until `stop()` (callable from a signal handler or any thread)."""

    def __init__(
        self,
        *,
        scheduled: Sequence[ScheduledLike],
        sinks: Sequence[Sink],
        host_name: str,
        host_id: str,
        interval: float,
        shutdown_deadline: float,
        health: AgentHealth | None = None,
        report_push_health: bool = False,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.host_name = host_name
        self.host_id = host_id
        self.sinks = list(sinks)
        self.health = health or AgentHealth()
        self._scheduler = CollectionScheduler(scheduled, interval)
        self._interval = interval
        self._shutdown_deadline = shutdown_deadline
        self._report_push_health = report_push_health
        self._wall_clock = wall_clock
        self._stopping = threading.Event()
        self._failing_sinks: set[str] = set()

    def collect_once(self) -> Snapshot:
        """Run the due collectors and assemble one snapshot (with the agent's own health)."""
        results = self._scheduler.run_due()
        results.append(self.health.as_result(include_push=self._report_push_health))
        return Snapshot(
            timestamp=self._wall_clock(),
            host_name=self.host_name,
            host_id=self.host_id,
            results=results,
        )

    def run(self) -> None:
        """Start the outputs, collect until stopped, then flush within the shutdown deadline.

        Raises OSError (from an output that cannot start, e.g. a port in use) before collecting.
        """
        started: list[Sink] = []
        try:
            for sink in self.sinks:
                sink.start()
                started.append(sink)
        except BaseException:
            self._shutdown(started, deadline=min(1.0, self._shutdown_deadline))
            raise
        log.info(
            "agent started",
            extra={
                "fields": {
                    "host": self.host_name,
                    "interval_seconds": self._interval,
                    "outputs": [s.name for s in self.sinks],
                    "version": __version__,
                }
            },
        )
        collection = threading.Thread(target=self._collect_loop, name="collection", daemon=True)
        collection.start()
        # The main thread only waits, so signal handlers run promptly.
        while not self._stopping.wait(timeout=1.0):
            pass
        stop_started = time.monotonic()
        collection.join(timeout=self._shutdown_deadline)
        spent = time.monotonic() - stop_started
        self._shutdown(started, deadline=max(0.0, self._shutdown_deadline - spent))
        log.info("agent stopped")

    def stop(self) -> None:
        self._stopping.set()

    def _collect_loop(self) -> None:
        next_snapshot = time.monotonic()
        while not self._stopping.is_set():
            try:
                next_snapshot = self._collect_step(next_snapshot)
            except Exception:  # a bug must not silently end collection; try again next interval
                log.exception("unexpected error in the collection loop")
                next_snapshot = time.monotonic() + self._interval
            wake_at = min(next_snapshot, self._scheduler.next_due())
            self._stopping.wait(timeout=max(0.0, wake_at - time.monotonic()))

    def _collect_step(self, next_snapshot: float) -> float:
        """Publish a snapshot if due, else run the collectors that are; returns the next one."""
        now = time.monotonic()
        if now < next_snapshot:
            self._scheduler.run_due()  # collectors faster than the snapshot interval
            return next_snapshot
        self._publish(self.collect_once())
        next_snapshot += self._interval
        if next_snapshot <= now:  # fell behind (a slow collector): don't burst
            next_snapshot = now + self._interval
        return next_snapshot

    def _publish(self, snapshot: Snapshot) -> None:
        for sink in self.sinks:
            try:
                sink.submit(snapshot)
            except Exception:
                if sink.name not in self._failing_sinks:  # once per streak, not every cycle
                    log.exception(
                        "output failed to take a snapshot", extra={"fields": {"output": sink.name}}
                    )
                    self._failing_sinks.add(sink.name)
            else:
                self._failing_sinks.discard(sink.name)

    def _shutdown(self, sinks: Sequence[Sink], deadline: float) -> None:
        # In parallel: an OTLP exporter retrying a dead endpoint must not eat the JSON flush time.
        ends_at = time.monotonic() + deadline

        def shut(sink: Sink) -> None:
            try:
                sink.shutdown(max(0.0, ends_at - time.monotonic()))
            except Exception:
                log.exception("output failed to shut down", extra={"fields": {"output": sink.name}})

        threads = [
            threading.Thread(target=shut, args=(sink,), name=f"shutdown-{sink.name}", daemon=True)
            for sink in sinks
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            # A little grace past the deadline for sinks that finish their last request.
            thread.join(timeout=max(0.0, ends_at - time.monotonic()) + 1.0)
        for thread in threads:
            if thread.is_alive():
                log.warning(
                    "output did not stop within the deadline",
                    extra={"fields": {"output": thread.name}},
                )


def build_sinks(
    config: AgentOptions, *, host_name: str, host_id: str, health: AgentHealth
) -> list[Sink]:
    """The enabled outputs, each module imported only when its output is on."""
    sinks: list[Sink] = []
    if config.prometheus.enabled:
        from exporter.sinks.prometheus import PrometheusSink

        sinks.append(PrometheusSink(config.prometheus))
    if config.otlp.enabled:
        from exporter.sinks.otlp import OtlpSink

        sinks.append(
            OtlpSink(config.otlp, host_name=host_name, host_id=host_id, service_version=__version__)
        )
    if config.json_push.enabled:
        from exporter.sinks.json_push import JsonPushSink

        sinks.append(JsonPushSink(config.json_push, health=health, agent_version=__version__))
    return sinks


def build_agent(config: AgentOptions) -> Agent:
    """The real agent for a validated config."""
    from exporter.collectors.registry import build_collectors

    host_name = resolve_host_name(config.host_name)
    host_id = resolve_host_id(host_name)
    health = AgentHealth()
    return Agent(
        scheduled=build_collectors(config),
        sinks=build_sinks(config, host_name=host_name, host_id=host_id, health=health),
        host_name=host_name,
        host_id=host_id,
        interval=config.interval,
        shutdown_deadline=config.shutdown_deadline,
        health=health,
        report_push_health=config.json_push.enabled,
    )
