"""The in-process hub: each live frame to the clients of its host, a bounded queue per client."""

from __future__ import annotations

import orjson
import pytest

from backend.fanout.host_split import split_by_host
from backend.live.hub import ClientTooSlow, LiveHub
from backend.live.messages import ALL_HOSTS, encode_live_bundle
from backend.model import IngestBatch, Sample
from backend.self_metrics import BackendMetrics


def bundle(batch: IngestBatch, accepted_ms: int) -> bytes:
    return encode_live_bundle(split_by_host(batch, {}), accepted_ms)


def _batch(i: int) -> IngestBatch:
    return IngestBatch("json", [Sample("h", "m", {}, i, float(i))])


async def test_a_full_queue_skips_the_oldest_frames_and_a_stuck_client_is_closed() -> None:
    hub = LiveHub(BackendMetrics(), client_queue=3, close_after_drops=5)
    stuck, reader = hub.connect(), hub.connect()
    stuck.subscription = reader.subscription = ALL_HOSTS
    frames = [bundle(_batch(i), accepted_ms=i) for i in range(8)]  # one host: one frame each
    received = []
    for frame in frames:
        hub.dispatch(frame)
        received.append(orjson.loads(await reader.next_frame())["accepted_ms"])
    assert received == list(range(8))  # the reader is never held back by the stuck client
    assert stuck.dropped == 5
    with pytest.raises(ClientTooSlow):
        await stuck.next_frame()


async def test_one_message_of_a_batchs_frames_reaches_each_client_per_its_hosts() -> None:
    metrics = BackendMetrics()
    hub = LiveHub(metrics)
    everything, only_b = hub.connect(), hub.connect()
    everything.subscription, only_b.subscription = ALL_HOSTS, frozenset({"b"})
    batch = IngestBatch("json", [Sample("a", "up", {}, 1, 1.0), Sample("b", "up", {}, 1, 2.0)])
    hub.dispatch(bundle(batch, accepted_ms=7))
    assert [orjson.loads(await everything.next_frame())["host"] for _ in range(2)] == ["a", "b"]
    assert orjson.loads(await only_b.next_frame())["samples"][0]["value"] == 2.0
    assert metrics.registry.get_sample_value("hostpulse_live_dispatched_frames_total") == 2


def test_the_hub_tells_when_it_has_clients() -> None:
    hub = LiveHub(BackendMetrics())
    assert not hub.has_clients.is_set()
    client = hub.connect()
    assert hub.has_clients.is_set()
    hub.disconnect(client)
    assert not hub.has_clients.is_set()
