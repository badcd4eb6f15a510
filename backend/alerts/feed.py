"""What the evaluator sees. Every backend process, as it accepts a batch, publishes one feed
message on the alert feed channel with only what some rule could match (picked in the fan-out's
one pass over the batch, `backend.fanout.host_split`) and when each host was last seen; the
evaluating process turns those messages back into engine observations. A report of ~60 samples
usually yields one or two, so the evaluator no longer decodes every sample of every report, and
the live channel can stay quiet while no dashboard is open."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

import asyncpg
import orjson

from backend.alerts import rule_store
from backend.alerts.engine import Observation
from backend.alerts.rules import AlertRule, RuleKind
from backend.fanout.host_split import SplitBatch, Watches

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
        self.watches: Watches = by_metric


def alert_feed_channel(prefix: str) -> str:
    return f"{prefix}alert-feed"


def encode_feed_message(split: SplitBatch) -> bytes | None:
    """One feed message for the whole batch, `{"seen": {host: newest ms}, "samples": [[host,
    name, labels, time_ms, value]]}`: the samples the rules watch, and for every host of the
    batch the newest time of anything it sent. One message, not one per host: each pub/sub
    message costs the evaluating process more than decoding what is in it. None for a batch
    of no host: nothing to say."""
    if not split.hosts:
        return None
    seen = {host: part.newest_ms for host, part in split.hosts.items()}
    return orjson.dumps({"seen": seen, "samples": split.watched})


def observations_from_feed_message(message: bytes) -> list[Observation]:
    """The message's samples, plus for each host a presence observation at its `seen` time (for
    the stale rule) when that is newer than all of the host's samples. A malformed message gives
    nothing; a malformed sample (or a NaN, which JSON carries as null) or host is skipped."""
    try:
        data = orjson.loads(message)
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


class AlertFeed:
    """The alert feed channel and the active rules' `SampleFilter`, reloaded from PostgreSQL
    every `refresh_interval` seconds by `keep_rules_fresh`."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.wanted = SampleFilter(())

    async def refresh(self, pool: asyncpg.Pool) -> None:
        self.wanted = SampleFilter(await rule_store.active_rules(pool))

    async def keep_rules_fresh(self, pool: asyncpg.Pool, refresh_interval: float) -> None:
        while True:
            await asyncio.sleep(refresh_interval)
            try:
                await self.refresh(pool)
            except (asyncpg.PostgresError, OSError) as exc:  # keep the last rules meanwhile
                log.warning("alert feed: rules not reloaded (%s)", exc)
