"""Every per-process service of the backend, built once by the app's lifespan (`start_services`)
into one typed object that the routes reach through `backend.api.deps`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from backend.alerts.feed import AlertFeed, alert_feed_channel
from backend.alerts.service import start_alerting
from backend.alerts.state_store import current_alerts
from backend.auth.agent_tokens import AgentTokenVerifier
from backend.fanout.redis_script import RecentAndLive
from backend.forward.service import start_forwarding
from backend.ingest.dedup import ReportDeduplicator
from backend.ingest.limits import MAX_AGE_MS, IngestLimits
from backend.ingest.scrape import Scraper
from backend.leadership import Leadership, run_as_the_only_one
from backend.live.hub import LiveHub
from backend.live.redis_bridge import LiveChannel, live_channel, live_subscriber
from backend.live.summary_feed import SummaryFeed, summary_channel
from backend.model import SampleSink
from backend.pipeline import IngestPipeline
from backend.ratelimit.limiters import RateLimiters, build_rate_limiters
from backend.redis_channel import ChannelListener
from backend.redis_connection import connect_redis
from backend.self_metrics import BackendMetrics
from backend.settings import BackendSettings
from backend.storage.maintenance import ensure_partitions
from backend.storage.migrations import migrate_database
from backend.storage.postgres import create_pool, stop_if_cancelled
from backend.storage.redis_window import RecentWindow
from backend.storage.retention import enforce_retention_forever
from backend.storage.sealing import Sealer
from backend.storage.writer import SampleWriter
from backend.users.bootstrap import ensure_initial_admin

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    settings: BackendSettings
    metrics: BackendMetrics
    pool: asyncpg.Pool
    redis: aioredis.Redis  # short timeouts: a dead Redis must not hold requests
    writer: SampleWriter
    window: RecentWindow
    hub: LiveHub  # this process's WebSocket clients
    live_subscriber: ChannelListener  # feeds `hub` from the live channel while it has clients
    summary_feed: SummaryFeed  # the fleet summaries for `hub`'s clients that want them
    pipeline: SampleSink  # writer queue, then the recent window, live and alert channels
    deduplicator: ReportDeduplicator
    ingest_limits: IngestLimits
    agent_tokens: AgentTokenVerifier
    rate_limits: RateLimiters


def ingest_limits(settings: BackendSettings) -> IngestLimits:
    # Older than raw retention would be dropped by the next retention pass: refuse it now.
    max_age_ms = min(MAX_AGE_MS, int(settings.retention.raw_samples * 1000))
    return IngestLimits(max_body_bytes=settings.max_body_bytes, max_age_ms=max_age_ms)


async def start_services(
    stack: contextlib.AsyncExitStack, settings: BackendSettings, metrics: BackendMetrics
) -> Services:
    """Connect, start every service and background job; each stops when `stack` closes (in
    reverse order: the writer is flushed before the pool closes)."""
    applied = await migrate_database(settings.database_url)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    pool = await create_pool(settings.database_url)
    stack.push_async_callback(pool.close)
    redis = connect_redis(settings.redis_url, socket_connect_timeout=2.0, socket_timeout=3.0)
    stack.push_async_callback(redis.aclose)

    writer = SampleWriter(
        pool,
        max_queue_samples=settings.writer_queue_max_samples,
        batch_samples=settings.writer_batch_samples,
        flush_interval=settings.writer_flush_interval,
        lanes=settings.writer_lanes,
    )
    await writer.start()
    stack.push_async_callback(writer.stop, settings.shutdown_timeout)
    metrics.watch_writer(writer)

    prefix = settings.redis_prefix
    window = RecentWindow(redis, prefix=prefix, window_seconds=settings.recent_window)
    hub = LiveHub(metrics, client_queue=settings.live_client_queue)
    metrics.watch_live_clients(lambda: hub.client_count)
    channel = live_channel(prefix)
    subscriber = live_subscriber(settings.redis_url, channel, hub, metrics)
    subscriber.start()
    stack.push_async_callback(subscriber.stop)
    live = LiveChannel(channel, local_listeners=lambda: hub.frame_client_count > 0)
    summaries = summary_channel(prefix)
    summary_feed = SummaryFeed(
        settings.redis_url,
        redis,
        channel=summaries,
        summaries_key=window.summaries_key,
        hub=hub,
        stale_after=settings.host_stale_after,
        flush_interval=settings.live_summary_flush,
        load_alerts=lambda: _stored_alerts(pool),
        metrics=metrics,
    )
    summary_feed.start()
    stack.push_async_callback(summary_feed.stop)
    summary = LiveChannel(summaries, local_listeners=lambda: hub.summary_client_count > 0)
    feed = AlertFeed(alert_feed_channel(prefix)) if settings.alerting.enabled else None
    fanout = RecentAndLive(redis, window, live=live, summary=summary, alert_feed=feed)
    forward = None
    if settings.forward.enabled:
        outbox, forward_stats = await start_forwarding(
            stack, settings.forward, settings.database_url, pool, settings.takeover_interval
        )
        for stats in forward_stats:
            metrics.watch_leadership(f"forward:{stats.target}", stats.is_sending)
        metrics.watch_forwarding(forward_stats)
        forward = outbox.offer
    pipeline = IngestPipeline(
        writer, fanout, metrics, forward=forward, commit_timeout=settings.ingest_commit_timeout
    )

    if settings.scrape_targets:
        scraper = Scraper(list(settings.scrape_targets), pipeline)
        _as_the_only_one(
            stack, settings, metrics, "scraping", lambda: _scrape_until_cancelled(scraper)
        )
    interval = settings.partition_maintenance_interval
    _in_background(stack, "partition-maintenance", _make_partitions_forever(pool, interval))
    await ensure_initial_admin(pool, settings.auth)
    if settings.retention.enabled:
        retention = settings.retention
        _as_the_only_one(
            stack,
            settings,
            metrics,
            "retention",
            lambda: enforce_retention_forever(pool, retention),
        )
    if settings.sealing.enabled:
        sealer = Sealer(pool, settings.sealing, clock=None)
        metrics.watch_sealing(sealer.stats)
        _as_the_only_one(stack, settings, metrics, "sealing", sealer.seal_forever)
    await start_alerting(
        stack, settings, pool, redis, hub, feed, metrics, on_transition=summary_feed.on_alert
    )
    services = assemble_services(
        settings, metrics, pool, redis, writer, window, hub, subscriber, summary_feed, pipeline
    )
    stack.push_async_callback(services.deduplicator.aclose)
    return services


async def _stored_alerts(pool: asyncpg.Pool) -> list[tuple[str, dict[str, str], str]]:
    """(rule, labels, state) of every pending and firing alert, for the fleet summaries."""
    return [(a.rule, dict(a.labels), a.state.value) for a in await current_alerts(pool)]


def assemble_services(
    settings: BackendSettings,
    metrics: BackendMetrics,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    writer: SampleWriter,
    window: RecentWindow,
    hub: LiveHub,
    live_subscriber: ChannelListener,
    summary_feed: SummaryFeed,
    pipeline: SampleSink,
) -> Services:
    """`Services` from the pieces that have a life of their own, plus those built from settings
    alone (what every request checks: tokens, rate limits, duplicates, ingest limits)."""
    bootstrap = settings.bootstrap_agent_token
    return Services(
        settings=settings,
        metrics=metrics,
        pool=pool,
        redis=redis,
        writer=writer,
        window=window,
        hub=hub,
        live_subscriber=live_subscriber,
        summary_feed=summary_feed,
        pipeline=pipeline,
        deduplicator=ReportDeduplicator(redis, settings.redis_prefix),
        ingest_limits=ingest_limits(settings),
        agent_tokens=AgentTokenVerifier(
            pool, bootstrap.get_secret_value() if bootstrap is not None else None
        ),
        rate_limits=build_rate_limiters(redis, settings.redis_prefix, settings.rate_limits),
    )


async def _make_partitions_forever(pool: asyncpg.Pool, interval: float) -> None:
    """Creates the coming 2-hour windows' head partitions now and every `interval` seconds."""
    while True:
        try:
            created = await ensure_partitions(pool, datetime.now(UTC))
            if created:
                log.info("created sample partitions: %s", ", ".join(created))
        except Exception:  # keep the job alive; the next run retries
            stop_if_cancelled()
            log.exception("partition maintenance failed")
        await asyncio.sleep(interval)


async def _scrape_until_cancelled(scraper: Scraper) -> None:
    await scraper.start()
    try:
        await asyncio.Event().wait()  # scrapes run in the scraper's own tasks until cancelled
    finally:
        await scraper.stop()


def _as_the_only_one(
    stack: contextlib.AsyncExitStack,
    settings: BackendSettings,
    metrics: BackendMetrics,
    name: str,
    job: Callable[[], Awaitable[None]],
) -> None:
    """`job` in the background of whichever process holds the lock `name` (backend.leadership):
    one process of all those on this database runs it, however many workers and replicas."""
    leadership = Leadership(name)
    metrics.watch_leadership(name, lambda: leadership.held)
    _in_background(
        stack,
        name,
        run_as_the_only_one(
            settings.database_url, leadership, job, retry_interval=settings.takeover_interval
        ),
    )


_JOB_STOP_SECONDS = 10.0


def _in_background(
    stack: contextlib.AsyncExitStack, name: str, job: Coroutine[Any, Any, None]
) -> None:
    """`job` as a task, cancelled when `stack` closes. A job that does not stop within
    `_JOB_STOP_SECONDS` is left behind with an error logged: shutdown goes on without it."""
    task = asyncio.create_task(job, name=name)

    async def cancel() -> None:
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=_JOB_STOP_SECONDS)
        if done:
            await asyncio.gather(task, return_exceptions=True)
        else:
            log.error(
                "%s did not stop within %.0f s of shutdown; leaving it", name, _JOB_STOP_SECONDS
            )

    stack.push_async_callback(cancel)
