"""In-process fan-out of live frames and fleet summaries to WebSocket clients, each with a
bounded queue."""

from __future__ import annotations

import asyncio
from collections import deque

from backend.live.messages import ALL_HOSTS, Subscription, frame_host, split_live_bundle
from backend.self_metrics import BackendMetrics


class ClientTooSlow(Exception):
    """The client stayed so far behind that it is closed rather than fed."""


class LiveClient:
    """One WebSocket client: its subscription (hosts whose frames it wants; whether it wants the
    fleet summaries) and the messages waiting to be sent to it.

    When the queue is full the oldest frame is skipped (a live view wants the newest data);
    a client that takes nothing while `close_after_drops` frames are skipped is closed.
    """

    def __init__(self, queue_size: int, close_after_drops: int) -> None:
        self.subscription: Subscription = frozenset()
        self.summary = False
        self.dropped = 0
        self._frames: deque[str] = deque()
        self._queue_size = queue_size
        self._close_after_drops = close_after_drops
        self._drops_since_take = 0
        self._wakeup = asyncio.Event()

    def wants(self, host: str) -> bool:
        return self.subscription == ALL_HOSTS or host in self.subscription

    @property
    def too_slow(self) -> bool:
        return self._drops_since_take >= self._close_after_drops

    def offer(self, frame: str) -> bool:
        """Queue a frame; False when an older frame had to be skipped for it."""
        skipped = len(self._frames) >= self._queue_size
        if skipped:
            self._frames.popleft()
            self.dropped += 1
            self._drops_since_take += 1
        self._frames.append(frame)
        self._wakeup.set()
        return not skipped

    async def next_frame(self) -> str:
        while not self._frames:
            if self.too_slow:
                raise ClientTooSlow
            self._wakeup.clear()
            await self._wakeup.wait()
        if self.too_slow:
            raise ClientTooSlow
        self._drops_since_take = 0
        return self._frames.popleft()


class LiveHub:
    def __init__(
        self,
        metrics: BackendMetrics,
        *,
        client_queue: int = 64,
        close_after_drops: int | None = None,
    ) -> None:
        self._clients: set[LiveClient] = set()
        self._client_queue = client_queue
        self._close_after_drops = close_after_drops or client_queue * 16
        self._metrics = metrics
        # Set while any client is connected / wants some host's frames / wants the summaries:
        # the Redis subscriptions follow them.
        self.has_clients = asyncio.Event()
        self.frames_wanted = asyncio.Event()
        self.summaries_wanted = asyncio.Event()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    @property
    def frame_client_count(self) -> int:
        return sum(1 for client in self._clients if client.subscription)

    @property
    def summary_client_count(self) -> int:
        return sum(1 for client in self._clients if client.summary)

    def subscribe(self, client: LiveClient, hosts: Subscription, summary: bool) -> None:
        client.subscription = hosts
        client.summary = summary
        self._follow_subscriptions()

    def _follow_subscriptions(self) -> None:
        for event, wanted in (
            (self.has_clients, bool(self._clients)),
            (self.frames_wanted, self.frame_client_count > 0),
            (self.summaries_wanted, self.summary_client_count > 0),
        ):
            if wanted:
                event.set()
            else:
                event.clear()

    def connect(self) -> LiveClient:
        client = LiveClient(self._client_queue, self._close_after_drops)
        self._clients.add(client)
        self._follow_subscriptions()
        return client

    def disconnect(self, client: LiveClient) -> None:
        self._clients.discard(client)
        self._follow_subscriptions()

    def broadcast(self, text: str) -> None:
        """Hand a message to every client, whatever hosts it subscribed to (e.g. alerts)."""
        for client in self._clients:
            if not client.offer(text):
                self._metrics.frames_dropped()

    def offer_summaries(self, text: str) -> None:
        """Hand a `summaries` message to every client subscribed to the fleet summary."""
        for client in self._clients:
            if client.summary and not client.offer(text):
                self._metrics.frames_dropped()

    def dispatch(self, bundle: bytes) -> None:
        """Hand each live frame of a live bundle to every client subscribed to its host; never
        blocks."""
        if not self._clients:
            return  # nobody here to parse it for
        for frame in split_live_bundle(bundle):
            self._dispatch_frame(frame)

    def _dispatch_frame(self, frame: bytes) -> None:
        host = frame_host(frame)
        if host is None:
            return
        text: str | None = None
        for client in self._clients:
            if not client.wants(host):
                continue
            text = text if text is not None else frame.decode()
            if not client.offer(text):
                self._metrics.frames_dropped()
        self._metrics.frames_dispatched()
