"""One pass over an accepted batch's sample columns: each host's part, and the samples some alert
rule could match. Pure. Every Redis-side format is built from its result:

- the recent window's entry per host (`backend.storage.redis_window.encode_window_entry`),
- the live bundle: one live frame per host (`backend.live.messages.encode_live_bundle`),
- the alert feed message (`backend.alerts.feed.encode_feed_message`),
- each host's fleet summary (`backend.live.summary.encode_host_summary`), from its `vitals`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.fanout.vitals import SUMMARY_METRICS, Vitals
from backend.model import IngestBatch, ProcessSnapshot, as_columns

# Metric name -> the label matcher sets of the rules watching it (`host` matches the host).
Watches = Mapping[str, list[Mapping[str, str]]]


@dataclass(slots=True)
class HostPart:
    """One host's share of a batch."""

    rows: list[list[Any]]  # [name, labels (a dict), time_ms, value], in batch order
    newest_ms: int  # the newest time of anything the host sent in the batch
    snapshots: list[ProcessSnapshot] = field(default_factory=list)  # in batch order
    vitals: Vitals = field(default_factory=Vitals)  # for the fleet summary


@dataclass(slots=True)
class SplitBatch:
    hosts: dict[str, HostPart]
    watched: list[list[Any]]  # [host, name, labels, time_ms, value] some rule's matchers accept


def split_by_host(batch: IngestBatch, watches: Watches) -> SplitBatch:
    """Reads sample columns, so a JSON batch needs no Sample objects."""
    columns = as_columns(batch.samples)
    hosts: dict[str, HostPart] = {}
    watched: list[list[Any]] = []
    # Runs for every accepted sample; nearly all are of a metric no rule watches.
    for key, labels, time_ms, value in zip(
        columns.keys, columns.labels, columns.times, columns.values, strict=True
    ):
        name, host = key[0], key[1]
        part = hosts.get(host)
        if part is None:
            part = hosts[host] = HostPart([], time_ms)
        elif time_ms > part.newest_ms:
            part.newest_ms = time_ms
        plain = labels if type(labels) is dict else dict(labels)  # JSON needs a dict
        part.rows.append([name, plain, time_ms, value])
        if name in SUMMARY_METRICS:
            part.vitals.note(name, plain, time_ms, value)
        matcher_sets = watches.get(name)
        if matcher_sets is not None and _any_matches(matcher_sets, host, plain):
            watched.append([host, name, plain, time_ms, value])
    for snapshot in batch.process_snapshots:
        part = hosts.get(snapshot.host)
        if part is None:
            part = hosts[snapshot.host] = HostPart([], snapshot.time_ms)
        elif snapshot.time_ms > part.newest_ms:
            part.newest_ms = snapshot.time_ms
        part.snapshots.append(snapshot)
    return SplitBatch(hosts, watched)


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
