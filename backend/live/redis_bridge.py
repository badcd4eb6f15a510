"""Redis pub/sub between backend processes: publish accepted batches, subscribe once per process
(while it has WebSocket clients)."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from backend.live.hub import LiveHub
from backend.live.messages import encode_frames, host_frames, join_frames
from backend.model import IngestBatch, SampleColumns
from backend.redis_channel import ChannelListener
from backend.self_metrics import BackendMetrics

log = logging.getLogger(__name__)

# ARGV from index `first`: per group, a channel, its number of frames, then the frames. Returns,
# per group, the most receivers any of its frames had.
PUBLISH_GROUPS_LUA = """
local function publish_groups(first)
  local out = {}
  local i = first
  while i <= #ARGV do
    local channel = ARGV[i]
    local last = i + 1 + tonumber(ARGV[i + 1])
    local most = 0
    for j = i + 2, last do
      most = math.max(most, redis.call('PUBLISH', channel, ARGV[j]))
    end
    out[#out + 1] = most
    i = last + 1
  end
  return out
end
"""


def live_channel(prefix: str) -> str:
    return f"{prefix}live"


class FrameSource(Protocol):
    """What one channel carries for an accepted batch."""

    @property
    def channel(self) -> str: ...

    def frames(self, batch: IngestBatch, accepted_ms: int) -> list[bytes]:
        """The frames to publish ([] publishes nothing)."""

    def delivered(self, receivers: int) -> None:
        """How many subscribers the frames reached (the most of any frame)."""


class LiveFrames:
    """One `samples` frame per host for the WebSocket fan-out, all of a batch's in one message,
    unless nobody anywhere listens.

    Backend processes subscribe only while they have WebSocket clients, so PUBLISH answering 0
    means no dashboard is open: frames then pause for `idle_recheck` seconds (a new client
    elsewhere sees frames after at most that long; one here, at once).
    """

    def __init__(
        self,
        channel: str,
        *,
        local_listeners: Callable[[], bool] = lambda: False,
        idle_recheck: float = 1.0,
    ) -> None:
        self.channel = channel
        self._local_listeners = local_listeners
        self._idle_recheck = idle_recheck
        self._idle_until = 0.0

    def frames(self, batch: IngestBatch, accepted_ms: int) -> list[bytes]:
        """The batch's host frames in one message: each pub/sub message costs every subscribing
        process more than what is in it (the hub splits them again)."""
        if time.monotonic() < self._idle_until and not self._local_listeners():
            return []
        frames = encode_live_frames(batch, accepted_ms)
        return [join_frames(frames)] if frames else []

    def delivered(self, receivers: int) -> None:
        self._idle_until = time.monotonic() + self._idle_recheck if receivers == 0 else 0.0


class BatchPublisher:
    """Publishes each accepted batch on every source's channel, all in one round trip."""

    def __init__(self, redis: aioredis.Redis, sources: Sequence[FrameSource]) -> None:
        self._redis = redis
        self._sources = list(sources)
        self._publish_groups: AsyncScript | None = None  # registered on first use

    async def publish(self, batch: IngestBatch) -> None:
        """Raises RedisError when Redis is away."""
        groups = self.groups(batch)
        if not groups:
            return
        if len(groups) == 1 and len(groups[0][1]) == 1:
            source, (frame,) = groups[0]
            source.delivered(int(await self._redis.publish(source.channel, frame)))
            return
        # One EVALSHA instead of a pipeline of PUBLISHes: far less client CPU.
        if self._publish_groups is None:
            script = PUBLISH_GROUPS_LUA + "return publish_groups(1)"
            self._publish_groups = self._redis.register_script(script)
        self.delivered(groups, await self._publish_groups(keys=[], args=publish_args(groups)))

    def groups(self, batch: IngestBatch) -> list[tuple[FrameSource, list[bytes]]]:
        """Each source with the frames it has for `batch` (sources with none left out)."""
        accepted_ms = int(time.time() * 1000)
        groups = [(source, source.frames(batch, accepted_ms)) for source in self._sources]
        return [(source, frames) for source, frames in groups if frames]

    @staticmethod
    def delivered(groups: list[tuple[FrameSource, list[bytes]]], receivers: list[Any]) -> None:
        """Tell each source what `publish_groups` answered for it."""
        for (source, _), count in zip(groups, receivers, strict=True):
            source.delivered(int(count))


def publish_args(groups: list[tuple[FrameSource, list[bytes]]]) -> list[str | int | bytes]:
    """ARGV for `PUBLISH_GROUPS_LUA`'s publish_groups."""
    args: list[str | int | bytes] = []
    for source, frames in groups:
        args += [source.channel, len(frames), *frames]
    return args


def encode_live_frames(batch: IngestBatch, accepted_ms: int) -> list[bytes]:
    """`encode_frames`, byte for byte, straight from sample columns (no Sample objects)."""
    if not isinstance(batch.samples, SampleColumns):
        return encode_frames(batch, accepted_ms)
    columns = batch.samples
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, labels, time_ms, value in zip(
        columns.keys, columns.labels, columns.times, columns.values, strict=True
    ):
        by_host[key[1]].append(
            {
                "name": key[0],
                "labels": labels if type(labels) is dict else dict(labels),
                "time_ms": time_ms,
                "value": value,
            }
        )
    return host_frames(by_host, batch.process_snapshots, accepted_ms)


def live_subscriber(
    redis_url: str, channel: str, hub: LiveHub, metrics: BackendMetrics | None = None
) -> ChannelListener:
    """This process's subscription to the live channel, held only while the hub has WebSocket
    clients (and for 10 s after the last one leaves), feeding the hub."""
    return ChannelListener(
        redis_url,
        channel,
        hub.dispatch,
        name="live-subscriber",
        until_needed=hub.has_clients.wait,
        still_needed=lambda: hub.client_count > 0,
        on_error=(lambda: metrics.redis_error("subscribe")) if metrics is not None else None,
    )
