"""Alertmanager's wire formats, built from alert transitions (pure; see conventions.md).

- The webhook body (`version: "4"`) so receivers written for Alertmanager work unchanged.
- The `POST /api/v2/alerts` body for sending to a real Alertmanager.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Alertmanager marks a firing alert's unknown end with Go's zero time.
ZERO_TIME = "0001-01-01T00:00:00Z"
_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_SEPARATOR = b"\xff"


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One alert as notifications carry it."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at_ms: int
    ends_at_ms: int | None  # None while firing
    generator_url: str = ""

    @property
    def status(self) -> str:
        return "firing" if self.ends_at_ms is None else "resolved"


def rfc3339(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fingerprint(labels: Mapping[str, str]) -> str:
    """The label-set fingerprint Prometheus and Alertmanager use (FNV-1a 64 over sorted pairs)."""
    digest = _FNV64_OFFSET
    for name in sorted(labels):
        pair = name.encode() + _SEPARATOR + labels[name].encode() + _SEPARATOR
        for byte in pair:
            digest ^= byte
            digest = (digest * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def _label_matchers(labels: Mapping[str, str]) -> str:
    inner = ", ".join(f"{k}={_quote(v)}" for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    common = dict(maps[0])
    for other in maps[1:]:
        common = {k: v for k, v in common.items() if other.get(k) == v}
    return common


def webhook_body(
    alerts: Sequence[AlertNotice],
    *,
    receiver: str,
    group_labels: Mapping[str, str],
    external_url: str,
    max_alerts: int = 0,
) -> dict[str, Any]:
    """The Alertmanager webhook payload for one group of alerts."""
    shown = list(alerts[:max_alerts]) if max_alerts > 0 else list(alerts)
    return {
        "version": "4",
        "groupKey": "{}:" + _label_matchers(group_labels),
        "truncatedAlerts": len(alerts) - len(shown),
        "status": "firing" if any(a.status == "firing" for a in alerts) else "resolved",
        "receiver": receiver,
        "groupLabels": dict(group_labels),
        "commonLabels": _common([a.labels for a in alerts]),
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": external_url,
        "alerts": [
            {
                "status": a.status,
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "startsAt": rfc3339(a.starts_at_ms),
                "endsAt": ZERO_TIME if a.ends_at_ms is None else rfc3339(a.ends_at_ms),
                "generatorURL": a.generator_url,
                "fingerprint": fingerprint(a.labels),
            }
            for a in shown
        ],
    }


def alertmanager_v2_alerts(alerts: Sequence[AlertNotice]) -> list[dict[str, Any]]:
    """The body of Alertmanager's `POST /api/v2/alerts` (resolved alerts carry a past endsAt)."""
    body = []
    for a in alerts:
        item: dict[str, Any] = {
            "labels": dict(a.labels),
            "annotations": dict(a.annotations),
            "startsAt": rfc3339(a.starts_at_ms),
            "generatorURL": a.generator_url,
        }
        if a.ends_at_ms is not None:
            item["endsAt"] = rfc3339(a.ends_at_ms)
        body.append(item)
    return body
