"""The recent window in Redis: per host, a sorted set of window entries scored by time.

A window entry is one host's part of one accepted batch, `{"s": [[name, labels, time_ms, value]...],
"p": [[time_ms, processes]...]}` as JSON, LZ4-compressed: a 16-core host's report is 6.4 KB of JSON
(metric names and labels repeat in every one) and 1.1 KB compressed, and a host keeps 150 of them in
a 5-minute window. Entries are written by the fan-out's script (`backend.fanout.redis_script`),
which also trims what has aged out and refreshes key TTLs, so a host that goes away simply expires.
One ZRANGE returns a host's whole window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import cramjam
import orjson
import redis.asyncio as aioredis

from backend.fanout.host_split import HostPart
from backend.model import ProcessSnapshot, Sample

DEFAULT_HOST_RETENTION_SECONDS = 7 * 86_400
_TTL_SLACK_MS = 60_000  # keys outlive the window a little, so a late read still finds them
# A window entry: this tag, then the JSON as an LZ4 block (its size prepended).
_LZ4_ENTRY = b"\x04"


@dataclass(frozen=True, slots=True)
class RecentData:
    host: str
    samples: list[Sample]  # in time order
    process_snapshots: list[ProcessSnapshot]  # in time order


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


def encode_window_entry(part: HostPart) -> bytes:
    """One host's part of a batch as stored in its window."""
    entry: dict[str, Any] = {"s": part.rows}
    if part.snapshots:
        entry["p"] = [[p.time_ms, list(p.processes)] for p in part.snapshots]
    return _LZ4_ENTRY + bytes(cramjam.lz4.compress_block(orjson.dumps(entry)))


def decode_window_entries(host: str, entries: list[bytes], since_ms: int) -> RecentData:
    """Samples and snapshots of `entries` at or after `since_ms`, each list in time order."""
    samples: list[Sample] = []
    snapshots: list[ProcessSnapshot] = []
    for stored in entries:
        entry = orjson.loads(bytes(cramjam.lz4.decompress_block(stored[len(_LZ4_ENTRY) :])))
        for name, labels, time_ms, value in entry.get("s", ()):
            if time_ms >= since_ms:
                # orjson writes NaN and infinities as null; they only come from scrapes' edge cases.
                value = math.nan if value is None else value
                samples.append(Sample(host, name, labels, time_ms, value))
        for time_ms, processes in entry.get("p", ()):
            if time_ms >= since_ms:
                snapshots.append(ProcessSnapshot(host, time_ms, processes))
    samples.sort(key=lambda s: s.time_ms)
    snapshots.sort(key=lambda p: p.time_ms)
    return RecentData(host, samples, snapshots)


class RecentWindow:
    """Where each host's window is and how long it lasts; reads it back."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        window_seconds: float,
        host_retention_seconds: float = DEFAULT_HOST_RETENTION_SECONDS,
        clock_ms: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        if not window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds!r}")
        self._redis = redis
        self._prefix = prefix
        self._window_ms = int(window_seconds * 1000)
        self._host_retention_ms = int(host_retention_seconds * 1000)
        self._clock_ms = clock_ms

    def host_key(self, host: str) -> str:
        return f"{self._prefix}recent:{host}"

    @property
    def hosts_key(self) -> str:
        return f"{self._prefix}hosts"

    @property
    def summaries_key(self) -> str:
        """The hash of each host's latest report summary (`backend.live.summary`), kept and
        trimmed with the hosts index."""
        return f"{self._prefix}summaries"

    def trim_args(self) -> list[str | int]:
        """What a write needs besides the entries, as of now: the window's cutoff (exclusive),
        its keys' TTL, now (the hosts' last-seen score), the hosts index's cutoff and TTL."""
        now = self._clock_ms()
        return [
            f"({now - self._window_ms}",
            self._window_ms + _TTL_SLACK_MS,
            now,
            f"({now - self._host_retention_ms}",
            self._host_retention_ms,
        ]

    async def recent(self, host: str) -> RecentData:
        """The host's samples and process snapshots of the last window, in time order."""
        since = self._clock_ms() - self._window_ms
        entries = await self._redis.zrange(self.host_key(host), since, "+inf", byscore=True)
        return decode_window_entries(host, cast(list[bytes], entries), since)

    async def hosts(self) -> list[tuple[str, int]]:
        """(host, last seen in unix ms) for every host seen within the retention, by name."""
        rows = await self._redis.zrange(self.hosts_key, 0, -1, withscores=True)
        pairs = cast(list[tuple[bytes | str, float]], rows)
        hosts = [(_text(member), int(score)) for member, score in pairs]
        return sorted(hosts)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
