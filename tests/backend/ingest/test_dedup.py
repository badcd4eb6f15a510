"""ReportDeduplicator: claims on real Redis, shared by concurrent requests, freed when unused."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from backend.ingest.dedup import Claim, ReportDeduplicator


class CountingRedis:
    """The real client, counting the round trips the claims make."""

    def __init__(self, real: aioredis.Redis) -> None:
        self.real = real
        self.round_trips = 0

    def register_script(self, script: str) -> object:
        inner = self.real.register_script(script)

        async def call(**kwargs: object) -> object:
            self.round_trips += 1
            return await inner(**kwargs)  # type: ignore[arg-type]

        return call

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


async def test_a_report_is_new_once_then_a_duplicate(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    dedup = ReportDeduplicator(redis_client, redis_prefix)
    assert await dedup.claim([("i-1", 1), ("i-1", 2)]) == [Claim.NEW, Claim.NEW]
    # Not stored yet: a retry now is told to come back (the first attempt may still fail).
    assert await dedup.claim([("i-1", 2)]) == [Claim.BUSY]
    await dedup.stored([("i-1", 1), ("i-1", 2)])
    assert await dedup.claim([("i-1", 2), ("i-1", 3), ("i-2", 1)]) == [
        Claim.SEEN,
        Claim.NEW,
        Claim.NEW,
    ]
    await dedup.aclose()


async def test_concurrent_claims_share_round_trips_and_each_gets_its_own_answer(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    counting = CountingRedis(redis_client)
    dedup = ReportDeduplicator(counting, redis_prefix)  # type: ignore[arg-type]
    # 20 requests at once, two of them the same report (a retry racing its original).
    keys = [[("i-1", seq)] for seq in range(1, 20)] + [[("i-1", 7)]]
    answers = await asyncio.gather(*(dedup.claim(k) for k in keys))
    assert answers[:19] == [[Claim.NEW]] * 19
    assert answers[19] == [Claim.BUSY]  # the original is being stored: retry shortly
    assert counting.round_trips < 20  # the first goes alone, the rest ride together


async def test_a_cancelled_request_frees_its_claims_for_the_retry(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    dedup = ReportDeduplicator(redis_client, redis_prefix)
    first = asyncio.create_task(dedup.claim([("i-1", 1)]))
    second = asyncio.create_task(dedup.claim([("i-1", 2)]))  # waits behind the first
    await asyncio.sleep(0)
    second.cancel()
    assert await first == [Claim.NEW]
    for _ in range(100):  # the flusher releases the cancelled claim right after the round trip
        if not await redis_client.exists(f"{redis_prefix}dedup:i-1:2"):
            break
        await asyncio.sleep(0.01)
    assert await dedup.claim([("i-1", 2)]) == [Claim.NEW]  # the agent's retry is not a duplicate


async def test_with_redis_away_everything_counts_as_new() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    dedup = ReportDeduplicator(dead, "unused:", max_wait_seconds=0.5)
    # The same report twice in one request is stored once, even without Redis.
    assert await dedup.claim([("i-1", 1), ("i-1", 1)]) == [Claim.NEW, Claim.SEEN]
    assert await dedup.claim([("i-1", 1)]) == [Claim.NEW]  # paused: Redis is not asked again
    await dedup.aclose()
    await dead.aclose()


async def test_claims_of_a_killed_process_are_taken_over_and_a_live_ones_are_not(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    """A backend SIGKILLed between claiming and committing never answered for the report: once
    its heartbeat key expires, the agent's retry (at another process) is stored, not dropped."""
    killed = ReportDeduplicator(redis_client, redis_prefix, heartbeat_seconds=0.25)
    alive = ReportDeduplicator(redis_client, redis_prefix, heartbeat_seconds=0.25)
    assert await killed.claim([("i-1", 1)]) == [Claim.NEW]
    assert await alive.claim([("i-1", 1)]) == [Claim.BUSY]  # its owner is alive: wait
    await killed.aclose()  # what SIGKILL does to the heartbeat
    await redis_client.delete(f"{redis_prefix}dedup-owner:{killed._me}")
    assert await alive.claim([("i-1", 1)]) == [Claim.NEW]
    await alive.stored([("i-1", 1)])
    assert await killed.claim([("i-1", 1)]) == [Claim.SEEN]
    await killed.aclose()
    await alive.aclose()


async def test_a_claim_settles_when_its_late_commit_ends(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    """503 while PostgreSQL was away, written later: the retry is a duplicate, or new if the
    write failed for good."""
    dedup = ReportDeduplicator(redis_client, redis_prefix)
    assert await dedup.claim([("i-1", 1), ("i-1", 2)]) == [Claim.NEW, Claim.NEW]
    loop = asyncio.get_running_loop()
    written, refused = loop.create_future(), loop.create_future()
    dedup.settle_when([("i-1", 1)], written)
    dedup.settle_when([("i-1", 2)], refused)
    assert await dedup.claim([("i-1", 1)]) == [Claim.BUSY]
    written.set_result(None)
    refused.set_exception(ValueError("refused as data"))
    refused.exception()
    for _ in range(100):
        if await redis_client.get(f"{redis_prefix}dedup:i-1:1") == b"s":
            break
        await asyncio.sleep(0.01)
    assert await dedup.claim([("i-1", 1), ("i-1", 2)]) == [Claim.SEEN, Claim.NEW]
    await dedup.aclose()


async def test_concurrent_stored_marks_share_round_trips(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    """Each request marks its reports stored after the commit: under load that must not be a
    Redis connection per request (the client's pool has 100; the soak ran out of them)."""
    counting = CountingRedis(redis_client)
    dedup = ReportDeduplicator(counting, redis_prefix)  # type: ignore[arg-type]
    keys = [[("i-1", seq)] for seq in range(1, 201)]
    await asyncio.gather(*(dedup.claim(k) for k in keys))
    before = counting.round_trips
    await asyncio.gather(*(dedup.stored(k) for k in keys))
    assert counting.round_trips - before < 20
    assert await dedup.claim([("i-1", 150)]) == [Claim.SEEN]
    await dedup.aclose()
