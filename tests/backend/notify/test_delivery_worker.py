"""The notification outbox and its worker against real PostgreSQL and a real HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import asyncpg
import pytest

from backend.notify import outbox
from backend.notify.delivery_worker import DeliveryWorker, retry_delay
from backend.notify.senders import signature
from backend.notify.webhook_store import create_webhook
from tests.backend.alerts.receiver import webhook_receiver
from tests.backend.running import wait_for
from tests.conftest import free_port

BODY = {"version": "4", "status": "firing", "alerts": [{"labels": {"alertname": "X"}}]}


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


def worker(pool: asyncpg.Pool, give_up_after: float = 60.0) -> DeliveryWorker:
    return DeliveryWorker(
        pool,
        timeout=2.0,
        retry_initial=0.2,
        retry_max=0.5,
        give_up_after=give_up_after,
        poll_interval=0.1,
    )


def test_retry_delay_doubles_up_to_the_maximum() -> None:
    assert [retry_delay(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    expected = hmac.new(b"s3cret", b'{"a":1}', hashlib.sha256).hexdigest()
    assert signature("s3cret", b'{"a":1}') == f"sha256={expected}"


async def attempts_of(pool: asyncpg.Pool, delivery_id: int) -> list[bool]:
    rows = await pool.fetch(
        "SELECT ok FROM notification_attempts WHERE delivery_id = $1 ORDER BY id", delivery_id
    )
    return [row["ok"] for row in rows]


async def test_a_receiver_that_is_down_gets_the_notification_after_it_comes_back(
    pool: asyncpg.Pool,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    hook = await create_webhook(pool, "ops", url, "a-secret-of-sixteen+", send_resolved=True)
    delivery_id = await outbox.enqueue(pool, "webhook", url, BODY, webhook_id=hook.id)
    sender = worker(pool)
    sender.start()
    try:

        async def failed_twice() -> bool:
            return len(await attempts_of(pool, delivery_id)) >= 2

        await wait_for(failed_twice, what="two failed attempts while the receiver is down")
        async with webhook_receiver(port) as receiver:

            async def delivered() -> bool:
                state = await pool.fetchval(
                    "SELECT state FROM notification_deliveries WHERE id = $1", delivery_id
                )
                return bool(state == "delivered")

            await wait_for(delivered, what="the delivery once the receiver is back")
    finally:
        await sender.stop()
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.body == BODY
    assert got.headers["x-hostpulse-signature"] == signature("a-secret-of-sixteen+", got.raw)
    outcomes = await attempts_of(pool, delivery_id)
    assert outcomes[-1] is True
    assert set(outcomes[:-1]) == {False}


async def test_a_delivery_is_given_up_after_its_deadline(pool: asyncpg.Pool) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    delivery_id = await outbox.enqueue(pool, "webhook", url, BODY)
    sender = worker(pool, give_up_after=0.5)
    sender.start()
    try:

        async def failed() -> bool:
            state = await pool.fetchval(
                "SELECT state FROM notification_deliveries WHERE id = $1", delivery_id
            )
            return bool(state == "failed")

        await wait_for(failed, what="the delivery to be given up")
    finally:
        await sender.stop()
    error = await pool.fetchval(
        "SELECT last_error FROM notification_deliveries WHERE id = $1", delivery_id
    )
    assert "ConnectError" in error


async def test_two_workers_send_each_delivery_once_and_in_order(pool: asyncpg.Pool) -> None:
    async with webhook_receiver() as receiver:
        for n in range(30):
            await outbox.enqueue(pool, "webhook", receiver.url, {**BODY, "n": n})
        first, second = worker(pool), worker(pool)
        first.start()
        second.start()
        try:

            async def all_sent() -> bool:
                pending = await pool.fetchval(
                    "SELECT count(*) FROM notification_deliveries WHERE state <> 'delivered'"
                )
                return bool(pending == 0)

            await wait_for(all_sent, what="every delivery to be sent")
        finally:
            await first.stop()
            await second.stop()
        assert [r.body["n"] for r in receiver.received] == list(range(30))


async def test_a_later_notification_waits_for_an_earlier_one_to_the_same_target(
    pool: asyncpg.Pool,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    for status in ("firing", "resolved"):
        await outbox.enqueue(pool, "webhook", url, {**BODY, "status": status})
    sender = worker(pool)
    sender.start()
    try:
        first_id = await pool.fetchval("SELECT min(id) FROM notification_deliveries")

        async def failed_twice() -> bool:
            return len(await attempts_of(pool, first_id)) >= 2

        await wait_for(failed_twice, what="the first delivery to fail twice")
        tried = await pool.fetchval("SELECT count(DISTINCT delivery_id) FROM notification_attempts")
        assert tried == 1  # the second waits behind the first
        async with webhook_receiver(port) as receiver:

            async def both() -> bool:
                return len(receiver.received) == 2

            await wait_for(both, what="both deliveries once the receiver is back")
    finally:
        await sender.stop()
    assert [r.body["status"] for r in receiver.received] == ["firing", "resolved"]


def test_a_database_outage_is_one_warning_not_a_traceback_per_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker polls every 0.5 s: during a PostgreSQL outage it used to log a traceback each
    time. Now: one warning, a reminder a minute later, one line when it is back."""
    from backend.notify.delivery_worker import OutageLog

    outage = OutageLog(every=60.0)
    error = ConnectionRefusedError(111, "Connect call failed")
    with caplog.at_level("INFO", logger="backend.notify.delivery_worker"):
        for tick in range(100):  # 50 s of polls
            outage.failed(error, now=1000.0 + tick * 0.5)
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert caplog.records[0].exc_info is None
        assert "PostgreSQL unreachable" in caplog.records[0].getMessage()
        outage.failed(error, now=1061.0)
        assert "still paused after 61 s (101 attempts)" in caplog.records[-1].getMessage()
        outage.succeeded(now=1070.0)
        outage.succeeded(now=1071.0)
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING", "INFO"]
    assert "resumed after 70 s" in caplog.records[-1].getMessage()
