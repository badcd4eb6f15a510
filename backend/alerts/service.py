"""Wires alerting into the app's lifespan: rules seeded, the evaluator (one process at a time),
the delivery worker and the live alert fan-out (every process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
import redis.asyncio as aioredis

from backend.alerts.evaluator import AlertEvaluator
from backend.alerts.feed import AlertFeed
from backend.alerts.lease import RedisLease
from backend.alerts.live_alerts import alert_channel, offer_to_clients
from backend.alerts.rule_spec import DEFAULTS_FILE, read_rules_file
from backend.alerts.rule_store import seed_rules
from backend.alerts.settings import AlertingSettings
from backend.alerts.transition_log import TransitionLog
from backend.live.hub import LiveHub
from backend.notify.delivery_worker import DeliveryWorker
from backend.redis_channel import ChannelListener
from backend.self_metrics import BackendMetrics
from backend.settings import BackendSettings

log = logging.getLogger(__name__)


async def seed_configured_rules(pool: asyncpg.Pool, settings: AlertingSettings) -> None:
    """Shipped defaults only where absent (an admin's edits stay); the rules file always wins."""
    if settings.load_defaults:
        await seed_rules(pool, read_rules_file(DEFAULTS_FILE), "defaults", overwrite=False)
    if settings.rules_file is not None:
        await seed_rules(pool, read_rules_file(settings.rules_file), "file", overwrite=True)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def start_alerting(
    stack: contextlib.AsyncExitStack,
    backend_settings: BackendSettings,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    hub: LiveHub,
    feed: AlertFeed | None,
    metrics: BackendMetrics,
    on_transition: Callable[[bytes], None] | None = None,
) -> None:
    """Start alerting for this process (evaluating only with `feed`, i.e. alerting enabled);
    everything stops when `stack` closes. Each alert transition goes to every `/ws` client of
    `hub`, and to `on_transition` (the fleet summaries' alert counts)."""
    settings = backend_settings.alerting
    prefix = backend_settings.redis_prefix
    await seed_configured_rules(pool, settings)

    delivery = DeliveryWorker(
        pool,
        timeout=settings.webhook_timeout,
        retry_initial=settings.retry_initial,
        retry_max=settings.retry_max,
        give_up_after=settings.give_up_after,
        poll_interval=settings.delivery_poll,
    )
    delivery.start()
    stack.push_async_callback(delivery.stop)

    def on_message(message: bytes) -> None:
        offer_to_clients(hub, message)
        if on_transition is not None:
            on_transition(message)

    fanout = ChannelListener(
        backend_settings.redis_url, alert_channel(prefix), on_message, name="alert-fanout"
    )
    fanout.start()
    stack.push_async_callback(fanout.stop)

    if feed is not None:
        await feed.refresh(pool)  # before the first batch is filtered with the rules
        refresher = asyncio.create_task(
            feed.keep_rules_fresh(pool, settings.tick_interval), name="alert-feed-rules"
        )
        stack.push_async_callback(_cancel, refresher)
        transition_log = TransitionLog(
            pool,
            redis,
            alert_channel(prefix),
            external_url=settings.external_url,
            alertmanager_urls=settings.alertmanager_urls,
            on_enqueued=delivery.wake,
        )
        lease = RedisLease(redis, f"{prefix}alerting:leader", settings.lease_ttl)
        evaluator = AlertEvaluator(
            pool,
            lease,
            backend_settings.redis_url,
            feed.channel,
            transition_log,
            settings,
            metrics,
        )
        evaluator.start()
        stack.push_async_callback(evaluator.stop)
        metrics.watch_alert_leadership(evaluator.leading.is_set)
