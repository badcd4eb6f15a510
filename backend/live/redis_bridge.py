"""The live channel between backend processes: each process publishes a live bundle per accepted
batch while someone anywhere listens, and subscribes once (while it has WebSocket clients)."""

from __future__ import annotations

import time
from collections.abc import Callable

from backend.live.hub import LiveHub
from backend.redis_channel import ChannelListener
from backend.self_metrics import BackendMetrics


def live_channel(prefix: str) -> str:
    return f"{prefix}live"


class LiveChannel:
    """Whether a batch's live bundle is worth publishing.

    Backend processes subscribe only while they have WebSocket clients, so PUBLISH answering 0
    means no dashboard is open: bundles then pause for `idle_recheck` seconds (a new client
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

    def wanted(self) -> bool:
        return time.monotonic() >= self._idle_until or self._local_listeners()

    def delivered(self, receivers: int) -> None:
        """How many subscribers the last bundle reached."""
        self._idle_until = time.monotonic() + self._idle_recheck if receivers == 0 else 0.0


def live_subscriber(
    redis_url: str, channel: str, hub: LiveHub, metrics: BackendMetrics | None = None
) -> ChannelListener:
    """This process's subscription to the live channel, held only while some WebSocket client
    wants some host's frames (and for 10 s after the last one stops), feeding the hub."""
    return ChannelListener(
        redis_url,
        channel,
        hub.dispatch,
        name="live-subscriber",
        until_needed=hub.frames_wanted.wait,
        still_needed=lambda: hub.frame_client_count > 0,
        on_error=(lambda: metrics.redis_error("subscribe")) if metrics is not None else None,
    )
