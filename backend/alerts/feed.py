"""What the evaluator sees. Every backend process, as it accepts a batch, publishes on the alert
feed channel only what some rule could match (and when each host was last seen); the evaluating
process turns those frames back into engine observations. A report of ~60 samples usually
yields one or two, so the evaluator no longer decodes every sample of every report, and the live
channel can stay quiet while no dashboard is open."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg
import orjson

from backend.alerts import rule_store
from backend.alerts.engine import Observation
from backend.alerts.rules import AlertRule, RuleKind
from backend.model import IngestBatch, as_columns

log = logging.getLogger(__name__)


class SampleFilter:
    """Which samples some threshold rule could match: its metric and its label matchers (the
    host matcher included). Most of a report's samples (per-core CPU, disks, network...) fail
    the first dictionary lookup and cost nothing more."""

    def __init__(self, rules: Iterable[AlertRule]) -> None:
        by_metric: dict[str, list[Mapping[str, str]]] = {}
        for rule in rules:
            if rule.enabled and rule.kind is RuleKind.THRESHOLD and rule.metric:
                by_metric.setdefault(rule.metric, []).append(rule.matchers)
        self._by_metric = by_metric

    @property
    def metrics(self) -> Mapping[str, list[Mapping[str, str]]]:
        """Metric name → the matcher sets of the rules watching it."""
        return self._by_metric


def _any_matches(
    matcher_sets: list[Mapping[str, str]], host: str, labels: Mapping[str, str]
) -> bool:
    for matchers in matcher_sets:
        for key, value in matchers.items():
            if (host if key == "host" else labels.get(key)) != value:
                break
        else:
            return True
    return False


def alert_feed_channel(prefix: str) -> str:
    return f"{prefix}alert-feed"


def encode_feed_frames(batch: IngestBatch, wanted: SampleFilter) -> list[bytes]:
    """One frame for the whole batch, `{"seen": {host: newest ms}, "samples": [[host, name,
    labels, time_ms, value]]}`: the samples `wanted` keeps, and for every host of the batch the
    newest time of anything it sent. One frame, not one per host: each pub/sub message costs the
    evaluating process more than decoding what is in it."""
    columns = as_columns(batch.samples)
    kept: list[list[Any]] = []
    seen: dict[str, int] = {}
    watched = wanted.metrics
    # Runs for every accepted sample, nearly all of them of a metric no rule watches.
    for key, labels, time_ms, value in zip(
        columns.keys, columns.labels, columns.times, columns.values, strict=True
    ):
        host = key[1]
        if time_ms > seen.get(host, -1):
            seen[host] = time_ms
        matcher_sets = watched.get(key[0])
        if matcher_sets is not None and _any_matches(matcher_sets, host, labels):
            kept.append([host, key[0], dict(labels), time_ms, value])
    for snapshot in batch.process_snapshots:
        seen[snapshot.host] = max(seen.get(snapshot.host, -1), snapshot.time_ms)
    if not seen:
        return []
    return [orjson.dumps({"seen": seen, "samples": kept})]


def observations_from_feed_frame(frame: bytes) -> list[Observation]:
    """The frame's samples, plus for each host a presence observation at its `seen` time (for
    the stale rule) when that is newer than all of the host's samples. A malformed frame gives
    nothing; a malformed sample (or a NaN, which JSON carries as null) or host is skipped."""
    try:
        data = orjson.loads(frame)
        seen, samples = dict(data["seen"]), list(data["samples"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return []
    found = []
    newest: dict[str, int] = {}
    for sample in samples:
        try:
            host, name, labels, time_ms, value = sample
            observation = Observation(host, name, dict(labels), int(time_ms), float(value))
        except (TypeError, ValueError):
            continue
        if type(host) is str:
            found.append(observation)
            newest[host] = max(newest.get(host, -1), observation.time_ms)
    for host, seen_ms in seen.items():
        if type(seen_ms) is int and seen_ms > newest.get(host, -1):
            found.append(Observation(host, "", {}, seen_ms, 0.0))
    return found


class AlertFeedFrames:
    """The alert feed's `FrameSource` (backend.live.redis_bridge): filters with the active rules,
    reloaded from PostgreSQL every `refresh_interval` seconds by `keep_rules_fresh`."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.wanted = SampleFilter(())

    def frames(self, batch: IngestBatch, accepted_ms: int) -> list[bytes]:
        return encode_feed_frames(batch, self.wanted)

    def delivered(self, receivers: int) -> None:
        pass  # the evaluator may be between leaders; the stale rule covers long gaps

    async def refresh(self, pool: asyncpg.Pool) -> None:
        self.wanted = SampleFilter(await rule_store.active_rules(pool))

    async def keep_rules_fresh(self, pool: asyncpg.Pool, refresh_interval: float) -> None:
        while True:
            await asyncio.sleep(refresh_interval)
            try:
                await self.refresh(pool)
            except (asyncpg.PostgresError, OSError) as exc:  # keep the last rules meanwhile
                log.warning("alert feed: rules not reloaded (%s)", exc)
