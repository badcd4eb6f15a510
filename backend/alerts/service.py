"""Wires alerting into the app's lifespan: rules seeded, the evaluator (one process at a time),
the delivery worker and the live alert fan-out (every process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from fastapi import FastAPI

from backend.alerts.evaluator import AlertEvaluator
from backend.alerts.feed import AlertFeedFrames
from backend.alerts.lease import RedisLease
from backend.alerts.live_alerts import alert_channel, offer_to_clients
from backend.alerts.rule_spec import DEFAULTS_FILE, read_rules_file
from backend.alerts.rule_store import seed_rules
from backend.alerts.settings import AlertingSettings
from backend.alerts.transition_log import TransitionLog
from backend.live.hub import LiveHub
from backend.notify.delivery_worker import DeliveryWorker
from backend.redis_channel import ChannelListener

log = logging.getLogger(__name__)


@dataclass
class AlertingRuntime:
    evaluator: AlertEvaluator | None
    delivery: DeliveryWorker
    fanout: ChannelListener


async def seed_configured_rules(pool: asyncpg.Pool, settings: AlertingSettings) -> None:
    """Shipped defaults only where absent (an admin's edits stay); the rules file always wins."""
    if settings.load_defaults:
        await seed_rules(pool, read_rules_file(DEFAULTS_FILE), "defaults", overwrite=False)
    if settings.rules_file is not None:
        await seed_rules(pool, read_rules_file(settings.rules_file), "file", overwrite=True)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def start_alerting(stack: contextlib.AsyncExitStack, app: FastAPI) -> None:
    """Start alerting for this app; everything stops when `stack` closes."""
    backend_settings = app.state.settings
    settings: AlertingSettings = backend_settings.alerting
    pool: asyncpg.Pool = app.state.pool
    redis: aioredis.Redis = app.state.redis
    hub: LiveHub = app.state.live_hub
    prefix: str = backend_settings.redis_prefix
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

    fanout = ChannelListener(
        backend_settings.redis_url,
        alert_channel(prefix),
        lambda message: offer_to_clients(hub, message),
        name="alert-fanout",
    )
    fanout.start()
    stack.push_async_callback(fanout.stop)

    evaluator: AlertEvaluator | None = None
    feed: AlertFeedFrames | None = app.state.alert_feed
    if settings.enabled and feed is not None:
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
        )
        evaluator.start()
        stack.push_async_callback(evaluator.stop)
    app.state.alerting = AlertingRuntime(evaluator, delivery, fanout)
