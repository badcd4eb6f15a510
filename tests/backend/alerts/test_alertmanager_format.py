"""Alertmanager's webhook and v2 API bodies, as receivers written for Alertmanager parse them."""

from __future__ import annotations

from backend.alerts.alertmanager_format import (
    ZERO_TIME,
    AlertNotice,
    alertmanager_v2_alerts,
    fingerprint,
    webhook_body,
)

FIRING = AlertNotice(
    labels={"alertname": "HighCpu", "host": "web-1", "severity": "critical"},
    annotations={"summary": "CPU high on web-1"},
    starts_at_ms=1_700_000_000_000,
    ends_at_ms=None,
    generator_url="http://hostpulse.example/alerts/HighCpu",
)
RESOLVED = AlertNotice(
    labels={"alertname": "HighCpu", "host": "web-2", "severity": "critical"},
    annotations={"summary": "CPU high on web-2"},
    starts_at_ms=1_700_000_000_000,
    ends_at_ms=1_700_000_060_500,
)


def test_fingerprint_matches_prometheus_common() -> None:
    assert fingerprint({}) == "cbf29ce484222325"  # FNV-1a 64 offset basis: nothing hashed
    # What Alertmanager 0.25 reports (GET /api/v2/alerts) for the same labels.
    assert fingerprint(FIRING.labels) == "acf23ea261f1ec30"
    assert fingerprint({"alertname": "x"}) == fingerprint({"alertname": "x"})
    assert fingerprint({"a": "b"}) != fingerprint({"a": "c"})
    assert len(fingerprint(FIRING.labels)) == 16


def test_webhook_body_has_every_alertmanager_field() -> None:
    body = webhook_body(
        [FIRING, RESOLVED],
        receiver="ops",
        group_labels={"alertname": "HighCpu"},
        external_url="http://hostpulse.example",
    )
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["groupKey"] == '{}:{alertname="HighCpu"}'
    assert body["truncatedAlerts"] == 0
    assert body["commonLabels"] == {"alertname": "HighCpu", "severity": "critical"}
    assert body["commonAnnotations"] == {}
    first, second = body["alerts"]
    assert first["endsAt"] == ZERO_TIME
    assert first["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert first["status"] == "firing"
    assert second["status"] == "resolved"
    assert second["endsAt"] == "2023-11-14T22:14:20.500Z"
    assert first["fingerprint"] == fingerprint(FIRING.labels)


def test_all_resolved_group_is_resolved_and_truncation_is_counted() -> None:
    body = webhook_body(
        [RESOLVED, RESOLVED],
        receiver="ops",
        group_labels={},
        external_url="",
        max_alerts=1,
    )
    assert body["status"] == "resolved"
    assert body["truncatedAlerts"] == 1
    assert len(body["alerts"]) == 1


def test_v2_alerts_body_sets_ends_at_only_when_resolved() -> None:
    firing, resolved = alertmanager_v2_alerts([FIRING, RESOLVED])
    assert "endsAt" not in firing
    assert resolved["endsAt"] == "2023-11-14T22:14:20.500Z"
    assert firing["labels"]["alertname"] == "HighCpu"
