"""The evaluating process: holds the Redis lease, feeds accepted samples to the pure engine, and
records, notifies and broadcasts each transition exactly once.

Why a lease and not a partition of hosts: every process publishes what the rules watch in each
accepted batch on the Redis alert feed channel (backend.alerts.feed), so one subscriber sees every
relevant sample whichever process accepted it; a single leader
keeps all of a host's state (and the per-host stale rule) in one place, needs no rebalancing when
processes come and go, and a handover is just "the next holder loads the state from PostgreSQL".
The lease is renewed every ttl/3; a leader that cannot renew stops evaluating before another can
take over (the check just before each commit narrows the overlap further).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from redis.exceptions import RedisError

from backend.alerts import engine, rule_store, state_store
from backend.alerts.engine import Alert, AlertKey, AlertState, Evaluation, Observation
from backend.alerts.feed import observations_from_feed_message
from backend.alerts.lease import RedisLease
from backend.alerts.mutes import Mute, active_mutes, is_muted
from backend.alerts.rules import AlertRule
from backend.alerts.settings import AlertingSettings
from backend.alerts.transition_log import TransitionLog
from backend.redis_channel import ChannelListener
from backend.self_metrics import BackendMetrics
from backend.storage.postgres import stop_if_cancelled

log = logging.getLogger(__name__)

_MAX_QUEUED_OBSERVATIONS = 500_000


class AlertEvaluator:
    def __init__(
        self,
        pool: asyncpg.Pool,
        lease: RedisLease,
        redis_url: str,
        feed_channel: str,
        transition_log: TransitionLog,
        settings: AlertingSettings,
        metrics: BackendMetrics,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        batch_window: float = 0.1,
    ) -> None:
        self._pool = pool
        self._lease = lease
        self._log = transition_log
        self._settings = settings
        self._metrics = metrics
        self._clock_ms = clock_ms
        self._batch_window = batch_window
        self._feed = ChannelListener(redis_url, feed_channel, self._on_message, name="alert-feed")
        self._queue: list[Observation] = []
        self._arrived = asyncio.Event()
        self._rules: list[AlertRule] = []
        self._mutes: list[Mute] = []
        self._alerts: dict[AlertKey, Alert] = {}
        self._saved: dict[AlertKey, Alert] = {}
        self._last_resend = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self.leading = asyncio.Event()  # set while evaluating (and subscribed to the feed)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-evaluator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._step_down()
        with contextlib.suppress(RedisError, OSError):
            await self._lease.release()

    def _on_message(self, message: bytes) -> None:
        found = observations_from_feed_message(message)
        if len(self._queue) + len(found) > _MAX_QUEUED_OBSERVATIONS:
            self._metrics.observations_dropped(len(found))
            return
        self._queue.extend(found)
        self._arrived.set()

    async def _run(self) -> None:
        renew_every = self._settings.lease_ttl / 3
        while True:
            try:
                held = await self._lease.acquire_or_renew()
            except (RedisError, OSError) as exc:
                log.warning("alert lease unavailable (%s)", exc)
                held = False
            if not held:
                await self._step_down()
                await asyncio.sleep(renew_every)
                continue
            try:
                if not self.leading.is_set():
                    await self._take_over()
                await self._evaluate_for(renew_every)
            except Exception:  # never let the evaluator die; a new term reloads the state
                stop_if_cancelled()
                log.exception("alert evaluation failed; state reloads from PostgreSQL")
                await self._step_down()
                await asyncio.sleep(renew_every)

    async def _take_over(self) -> None:
        self._alerts = await state_store.load_alerts(self._pool)
        self._saved = dict(self._alerts)
        await self._reload()
        self._queue.clear()
        self._feed.start()
        await asyncio.wait_for(self._feed.subscribed.wait(), 10)
        self.leading.set()
        log.info("evaluating alerts (%d known alerts)", len(self._alerts))

    async def _step_down(self) -> None:
        if self.leading.is_set():
            log.info("no longer evaluating alerts")
        self.leading.clear()
        await self._feed.stop()
        self._queue.clear()

    async def _reload(self) -> None:
        self._rules = await rule_store.active_rules(self._pool)
        self._mutes = await active_mutes(self._pool)

    async def _evaluate_for(self, seconds: float) -> None:
        """Evaluate as observations arrive (gathered for at most `batch_window` seconds, so a
        busy feed is evaluated in batches, not message by message) and on every tick, until the
        lease needs renewing."""
        deadline = time.monotonic() + seconds
        next_tick = time.monotonic()
        while (remaining := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._arrived.wait(), min(remaining, self._settings.tick_interval)
                )
            if self._arrived.is_set() and time.monotonic() < next_tick:
                await asyncio.sleep(self._batch_window)  # let more messages join this batch
            self._arrived.clear()
            tick = time.monotonic() >= next_tick
            if tick:
                await self._reload()
                next_tick = time.monotonic() + self._settings.tick_interval
            await self.evaluate_once(tick=tick)

    async def evaluate_once(self, *, tick: bool) -> None:
        observations, self._queue = self._queue, []
        now_ms = self._clock_ms()
        result = engine.evaluate(
            self._rules,
            self._alerts,
            observations,
            now_ms,
            max_gap_ms=int(self._settings.max_gap * 1000),
            tick=tick,
        )
        combined = result
        if tick:  # rules change only when a tick reloads them
            retired = engine.retire(self._rules, result.alerts, now_ms)
            combined = Evaluation(retired.alerts, result.transitions + retired.transitions)
        if combined.transitions:
            if not await self._lease.still_held():
                raise RedisError("lost the alert lease before recording transitions")
            now = datetime.now(UTC)
            await self._log.record(
                self._alerts, combined, self._rules, lambda r, labels: self._muted(r, labels, now)
            )
            self._mark_saved(combined, {(t.rule, t.labels) for t in combined.transitions})
        self._alerts = combined.alerts
        if tick:
            await self._save_changed()
            await self._resend_firing()

    def _muted(self, rule: str, labels: dict[str, str], now: datetime) -> bool:
        return is_muted(self._mutes, rule, labels, now)

    def _mark_saved(self, result: Evaluation, keys: set[AlertKey]) -> None:
        for key in keys:
            if key in result.alerts:
                self._saved[key] = result.alerts[key]

    async def _save_changed(self) -> None:
        changed = [a for k, a in self._alerts.items() if self._saved.get(k) != a]
        gone = self._saved.keys() - self._alerts.keys()
        if changed:
            await state_store.save_alerts(self._pool, changed)
            for alert in changed:
                self._saved[(alert.rule, alert.labels)] = alert
        if gone:
            await state_store.delete_alerts_of_missing_rules(self._pool)
            for key in gone:
                del self._saved[key]

    async def _resend_firing(self) -> None:
        if not self._settings.alertmanager_urls:
            return
        if time.monotonic() - self._last_resend < self._settings.alertmanager_resend:
            return
        self._last_resend = time.monotonic()
        now = datetime.now(UTC)
        firing = [
            a
            for a in self._alerts.values()
            if a.state is AlertState.FIRING and not self._muted(a.rule, dict(a.labels), now)
        ]
        if firing:
            await self._log.resend_to_alertmanager(firing, self._rules)
