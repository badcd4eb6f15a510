"""Recording transitions: state, history and the notification outbox in one transaction, then
the WebSocket broadcast. Called only by the process holding the alert lease."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from backend.alerts import state_store
from backend.alerts.alertmanager_format import AlertNotice, alertmanager_v2_alerts, webhook_body
from backend.alerts.engine import Alert, AlertKey, Evaluation, Transition
from backend.alerts.history_store import insert_transition
from backend.alerts.live_alerts import alert_message
from backend.alerts.notices import NOTIFIED, notice_for, notice_for_firing, starts_at_ms
from backend.alerts.rules import AlertRule
from backend.notify import outbox
from backend.notify.webhook_store import list_webhooks

log = logging.getLogger(__name__)

MutedCheck = Callable[[str, dict[str, str]], bool]
RECEIVER = "hostpulse"


class TransitionLog:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        alert_channel: str,
        *,
        external_url: str,
        alertmanager_urls: Sequence[str],
        on_enqueued: Callable[[], None],
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._channel = alert_channel
        self._external_url = external_url
        self._alertmanager_urls = list(alertmanager_urls)
        self._on_enqueued = on_enqueued

    async def record(
        self,
        before: Mapping[AlertKey, Alert],
        result: Evaluation,
        rules: Sequence[AlertRule],
        muted: MutedCheck,
    ) -> None:
        by_name = {r.name: r for r in rules}
        messages: list[bytes] = []
        enqueued = 0
        async with self._pool.acquire() as conn, conn.transaction():
            touched = {(t.rule, t.labels) for t in result.transitions}
            await state_store.save_alerts(
                conn, [result.alerts[k] for k in touched if k in result.alerts]
            )
            webhooks = [w for w in await list_webhooks(conn) if w.enabled]
            for transition in result.transitions:
                key = (transition.rule, transition.labels)
                starts_ms = starts_at_ms(transition, before.get(key))
                is_muted = muted(transition.rule, dict(transition.labels))
                transition_id = await insert_transition(conn, transition, starts_ms, is_muted)
                messages.append(alert_message(transition, transition_id, is_muted))
                if is_muted or transition.to_state not in NOTIFIED:
                    continue
                notice = notice_for(
                    transition, by_name.get(transition.rule), starts_ms, self._external_url
                )
                for webhook in webhooks:
                    if notice.status == "resolved" and not webhook.send_resolved:
                        continue
                    body = self._webhook_body(transition, notice)
                    await outbox.enqueue(
                        conn,
                        "webhook",
                        webhook.url,
                        body,
                        webhook_id=webhook.id,
                        transition_id=transition_id,
                    )
                    enqueued += 1
                for url in self._alertmanager_urls:
                    await outbox.enqueue(
                        conn,
                        "alertmanager",
                        url,
                        alertmanager_v2_alerts([notice]),
                        transition_id=transition_id,
                    )
                    enqueued += 1
        if enqueued:
            self._on_enqueued()
        await self._broadcast(messages)

    def _webhook_body(self, transition: Transition, notice: AlertNotice) -> dict[str, object]:
        return webhook_body(
            [notice],
            receiver=RECEIVER,
            # One alert per notification: its group is its rule on its host.
            group_labels={k: v for k, v in notice.labels.items() if k in ("alertname", "host")},
            external_url=self._external_url,
        )

    async def resend_to_alertmanager(
        self, firing: Sequence[Alert], rules: Sequence[AlertRule]
    ) -> None:
        """Alertmanager drops alerts it has not heard of for resolve_timeout: repeat firing ones."""
        by_name = {r.name: r for r in rules}
        notices = [notice_for_firing(a, by_name.get(a.rule), self._external_url) for a in firing]
        body = alertmanager_v2_alerts(notices)
        for url in self._alertmanager_urls:
            await outbox.enqueue(self._pool, "alertmanager", url, body)
        self._on_enqueued()

    async def _broadcast(self, messages: list[bytes]) -> None:
        if not messages:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            for message in messages:
                pipe.publish(self._channel, message)
            await pipe.execute()
        except (
            RedisError,
            OSError,
        ) as exc:  # the record is in PostgreSQL; only the live view misses it
            log.warning("could not publish alert transitions live: %s", exc)
