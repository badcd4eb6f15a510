"""The recent window in Redis: per host, a sorted set of compact JSON frames scored by time.

One ZRANGE returns a host's whole window; every add trims frames older than the window and
refreshes key TTLs, so a host that goes away simply expires. Frames are stored LZ4-compressed:
a 16-core host's report is 6.4 KB of JSON (metric names and labels repeat in every one) and
1.1 KB compressed, and a host keeps 150 of them in a 5-minute window.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import cramjam
import orjson
import redis.asyncio as aioredis

from backend.model import IngestBatch, ProcessSnapshot, Sample, as_columns

DEFAULT_HOST_RETENTION_SECONDS = 7 * 86_400
_TTL_SLACK_MS = 60_000  # keys outlive the window a little, so a late read still finds them

# KEYS: each host's window, then the hosts index. ARGV after `base`: window cutoff ("(ms"),
# window key TTL, now, hosts cutoff ("(ms"), hosts TTL, then per host: newest time, frame, host.
ADD_FRAMES_LUA = """
local function add_frames(base)
  local n = #KEYS - 1
  local hosts = KEYS[n + 1]
  for i = 1, n do
    local at = base + 5 + (i - 1) * 3
    redis.call('ZADD', KEYS[i], ARGV[at + 1], ARGV[at + 2])
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[base + 1])
    redis.call('PEXPIRE', KEYS[i], ARGV[base + 2])
    redis.call('ZADD', hosts, 'GT', ARGV[base + 3], ARGV[at + 3])
  end
  redis.call('ZREMRANGEBYSCORE', hosts, '-inf', ARGV[base + 4])
  redis.call('PEXPIRE', hosts, ARGV[base + 5])
  return n
end
"""


@dataclass(frozen=True, slots=True)
class RecentData:
    host: str
    samples: list[Sample]  # in time order
    process_snapshots: list[ProcessSnapshot]  # in time order


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


# A stored frame: this tag, then the JSON as an LZ4 block (its size prepended). A frame that
# starts with "{" is plain JSON, as written before frames were compressed.
_LZ4_FRAME = b"\x04"


def _frame(rows: list[list[Any]], snapshots: list[ProcessSnapshot]) -> bytes:
    """{"s": [[name, labels, t, v]...], "p": [[t, processes]...]}, compressed."""
    frame: dict[str, Any] = {"s": rows}
    if snapshots:
        frame["p"] = [[p.time_ms, list(p.processes)] for p in snapshots]
    return _LZ4_FRAME + bytes(cramjam.lz4.compress_block(orjson.dumps(frame)))


def _frame_json(stored: bytes | str) -> Any:
    if isinstance(stored, bytes) and stored[:1] == _LZ4_FRAME:
        return orjson.loads(bytes(cramjam.lz4.decompress_block(stored[1:])))
    return orjson.loads(stored)


def host_frames(batch: IngestBatch) -> dict[str, tuple[bytes, int]]:
    """Per host of the batch: its frame and the newest time in it. Reads sample columns, so a
    JSON batch needs no Sample objects."""
    columns = as_columns(batch.samples)
    rows: dict[str, list[list[Any]]] = defaultdict(list)
    newest: dict[str, int] = {}
    for key, labels, time_ms, value in zip(
        columns.keys, columns.labels, columns.times, columns.values, strict=True
    ):
        host = key[1]
        plain = labels if type(labels) is dict else dict(labels)  # JSON needs a dict
        rows[host].append([key[0], plain, time_ms, value])
        if time_ms > newest.get(host, -1):
            newest[host] = time_ms
    snapshots: dict[str, list[ProcessSnapshot]] = defaultdict(list)
    for snapshot in batch.process_snapshots:
        snapshots[snapshot.host].append(snapshot)
        newest[snapshot.host] = max(newest.get(snapshot.host, -1), snapshot.time_ms)
    return {
        host: (_frame(rows.get(host, []), snapshots.get(host, [])), newest[host]) for host in newest
    }


def decode_frames(host: str, frames: list[bytes | str], since_ms: int) -> RecentData:
    """Samples and snapshots of `frames` at or after `since_ms`, each list in time order."""
    samples: list[Sample] = []
    snapshots: list[ProcessSnapshot] = []
    for stored in frames:
        frame = _frame_json(stored)
        for name, labels, time_ms, value in frame.get("s", ()):
            if time_ms >= since_ms:
                # orjson writes NaN and infinities as null; they only come from scrapes' edge cases.
                value = math.nan if value is None else value
                samples.append(Sample(host, name, labels, time_ms, value))
        for time_ms, processes in frame.get("p", ()):
            if time_ms >= since_ms:
                snapshots.append(ProcessSnapshot(host, time_ms, processes))
    samples.sort(key=lambda s: s.time_ms)
    snapshots.sort(key=lambda p: p.time_ms)
    return RecentData(host, samples, snapshots)


class RecentWindow:
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
        self._add_script = redis.register_script(ADD_FRAMES_LUA + "return add_frames(0)")

    def host_key(self, host: str) -> str:
        return f"{self._prefix}recent:{host}"

    @property
    def hosts_key(self) -> str:
        return f"{self._prefix}hosts"

    async def add(self, batch: IngestBatch) -> None:
        """Append the batch to each host's window and trim what has aged out: one EVALSHA
        however many hosts (a pipeline of 3 commands per host cost ~3x the client CPU)."""
        script_input = self.add_args(batch)
        if script_input is not None:
            await self._add_script(keys=script_input[0], args=script_input[1])

    def add_args(self, batch: IngestBatch) -> tuple[list[str], list[str | int | bytes]] | None:
        """KEYS and ARGV for `ADD_FRAMES_LUA`'s add_frames (None: nothing to add)."""
        frames = host_frames(batch)
        if not frames:
            return None
        now = self._clock_ms()
        keys = [self.host_key(host) for host in frames]
        args: list[str | int | bytes] = [
            f"({now - self._window_ms}",
            self._window_ms + _TTL_SLACK_MS,
            now,
            f"({now - self._host_retention_ms}",
            self._host_retention_ms,
        ]
        for host, (frame, newest) in frames.items():
            args += (newest, frame, host)
        return [*keys, self.hosts_key], args

    async def recent(self, host: str) -> RecentData:
        """The host's samples and process snapshots of the last window, in time order."""
        since = self._clock_ms() - self._window_ms
        frames = await self._redis.zrange(self.host_key(host), since, "+inf", byscore=True)
        return decode_frames(host, cast(list[bytes | str], frames), since)

    async def hosts(self) -> list[tuple[str, int]]:
        """(host, last seen in unix ms) for every host seen within the retention, by name."""
        rows = await self._redis.zrange(self.hosts_key, 0, -1, withscores=True)
        pairs = cast(list[tuple[bytes | str, float]], rows)
        hosts = [(_text(member), int(score)) for member, score in pairs]
        return sorted(hosts)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
