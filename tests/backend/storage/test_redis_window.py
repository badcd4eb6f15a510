"""The Redis recent window: the last 5 minutes per host in time order, trimmed and expiring."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from backend.fanout.redis_script import RecentAndLive
from backend.model import IngestBatch, ProcessSnapshot, as_columns
from backend.storage.redis_window import RecentWindow
from tests.backend.storage.storage_support import batch_of, now_ms, sample

WINDOW_S = 300


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class WrittenWindow(RecentWindow):
    """A window written the way production writes it: batches through the fan-out's script."""

    def __init__(self, redis_client: aioredis.Redis, **options: Any) -> None:
        super().__init__(redis_client, **options)
        self._fanout = RecentAndLive(redis_client, self)

    async def add(self, batch: IngestBatch) -> None:
        await self._fanout.add(batch)


def window_of(
    redis_client: aioredis.Redis, prefix: str, clock: Clock | None = None
) -> WrittenWindow:
    """A 5-minute window under the test's own key prefix, on `clock` (default: the real time)."""
    if clock is None:
        return WrittenWindow(redis_client, prefix=prefix, window_seconds=WINDOW_S)
    return WrittenWindow(redis_client, prefix=prefix, window_seconds=WINDOW_S, clock_ms=clock)


async def test_recent_returns_the_last_five_minutes_in_time_order(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    now = now_ms()
    window = window_of(redis_client, redis_prefix, Clock(now))
    # Six minutes of data every 10 s, added newest first, plus another host.
    times = [now - 360_000 + i * 10_000 for i in range(36)]
    for t in reversed(times):
        await window.add(batch_of(sample(float(t), t, labels={"cpu": "0"})))
    await window.add(batch_of(sample(1, now, host="db-1")))

    data = await window.recent("web-1")

    expected = [t for t in times if t >= now - WINDOW_S * 1000]
    assert [s.time_ms for s in data.samples] == expected
    assert all(s.host == "web-1" and s.labels == {"cpu": "0"} for s in data.samples)
    assert [s.value for s in data.samples] == [float(t) for t in expected]


async def test_old_frames_are_trimmed_and_keys_expire(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    clock = Clock(now_ms())
    window = window_of(redis_client, redis_prefix, clock)
    await window.add(batch_of(sample(1, clock.now)))
    clock.now += 6 * 60_000
    await window.add(batch_of(sample(2, clock.now)))

    key = window.host_key("web-1")
    assert await redis_client.zcard(key) == 1
    ttl_ms = await redis_client.pttl(key)
    assert 0 < ttl_ms <= (WINDOW_S + 60) * 1000
    assert [s.value for s in (await window.recent("web-1")).samples] == [2]


async def test_process_snapshots_and_unicode_round_trip(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    window = window_of(redis_client, redis_prefix)
    t = now_ms()
    host = "hôte-日本 'x'"
    processes = [{"pid": 7, "name": 'naïve "proc" 🚀', "cpu": 0.25}]
    await window.add(
        IngestBatch(
            "json",
            [sample(3.5, t - 1_000, host=host, labels={"path": "C:\\ 'quoted'"})],
            [ProcessSnapshot(host, t, processes), ProcessSnapshot(host, t - 2_000, [])],
        )
    )

    data = await window.recent(host)

    assert [(s.name, dict(s.labels), s.value) for s in data.samples] == [
        ("system_cpu_utilization_ratio", {"path": "C:\\ 'quoted'"}, 3.5)
    ]
    assert [(p.time_ms, list(p.processes)) for p in data.process_snapshots] == [
        (t - 2_000, []),
        (t, processes),
    ]


async def test_hosts_lists_every_host_with_its_last_seen_time(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    clock = Clock(1_800_000_000_000)
    window = window_of(redis_client, redis_prefix, clock)
    await window.add(batch_of(sample(1, clock.now, host="b"), sample(1, clock.now, host="a")))
    clock.now += 5_000
    await window.add(batch_of(sample(1, clock.now, host="b")))

    assert await window.hosts() == [("a", 1_800_000_000_000), ("b", 1_800_000_005_000)]


async def test_an_unknown_host_has_an_empty_window(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    window = window_of(redis_client, redis_prefix)
    data = await window.recent("never-seen")
    assert (data.samples, data.process_snapshots) == ([], [])
    assert await window.hosts() == []


async def test_a_columnar_batch_of_several_hosts_lands_in_each_hosts_window(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    now = now_ms()
    window = window_of(redis_client, redis_prefix, Clock(now))
    samples = [sample(float(i), now, host=f"h-{i % 3}", labels={"i": str(i)}) for i in range(9)]
    snapshot = ProcessSnapshot("h-1", now, ({"rank": 1, "name": "nginx"},))
    await window.add(IngestBatch("json", as_columns(samples), (snapshot,)))

    for h in range(3):
        data = await window.recent(f"h-{h}")
        assert [s.value for s in data.samples] == [float(i) for i in range(h, 9, 3)]
        assert [s.labels for s in data.samples] == [{"i": str(i)} for i in range(h, 9, 3)]
    assert [p.host for p in (await window.recent("h-1")).process_snapshots] == ["h-1"]
    assert [host for host, _ in await window.hosts()] == ["h-0", "h-1", "h-2"]
    key_ttl = await redis_client.pttl(window.host_key("h-2"))
    assert 0 < key_ttl <= (WINDOW_S + 60) * 1000


async def test_a_hosts_report_is_stored_compressed(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    now = now_ms()
    window = window_of(redis_client, redis_prefix, Clock(now))
    # A 16-core host's report: per-core CPU, then the top processes' metrics.
    report = [sample(0.25, now, labels={"cpu_logical_number": str(core)}) for core in range(16)] + [
        sample(1e8, now, name="process_memory_usage_bytes", labels={"process_pid": str(pid)})
        for pid in range(1000, 1005)
    ]
    await window.add(batch_of(*report))
    (stored,) = await redis_client.zrange(window.host_key("web-1"), 0, -1)
    assert len(stored) < 400  # as plain JSON this entry is 1,677 bytes; a host keeps 150 of them

    data = await window.recent("web-1")

    assert [s.value for s in data.samples] == [s.value for s in report]
    assert [s.labels for s in data.samples] == [s.labels for s in report]
