"""Alert transitions on the WebSocket: the evaluator publishes `{"type":"alert",…}` on a Redis
channel; every process listens and hands the message to each of its `/ws` clients."""

from __future__ import annotations

from typing import Any

import orjson

from backend.alerts.alertmanager_format import rfc3339
from backend.alerts.engine import Transition
from backend.live.hub import LiveHub


def alert_channel(prefix: str) -> str:
    return f"{prefix}alerts"


def alert_message(transition: Transition, transition_id: int, muted: bool) -> bytes:
    labels = dict(transition.labels)
    message: dict[str, Any] = {
        "type": "alert",
        "id": transition_id,
        "rule": transition.rule,
        "host": labels.get("host", ""),
        "severity": labels.get("severity", ""),
        "labels": labels,
        "from": transition.from_state.value,
        "to": transition.to_state.value,
        "value": transition.value,
        "time": rfc3339(transition.time_ms),
        "time_ms": transition.time_ms,
        "reason": transition.reason,
        "muted": muted,
    }
    return orjson.dumps(message)


def offer_to_clients(hub: LiveHub, message: bytes) -> None:
    """Every connected client gets alerts, whatever hosts it subscribed to (a UI shows them all)."""
    hub.broadcast(message.decode())
