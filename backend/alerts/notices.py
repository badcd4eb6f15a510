"""From a transition to what notifications carry (pure)."""

from __future__ import annotations

from backend.alerts.alertmanager_format import AlertNotice
from backend.alerts.engine import Alert, AlertState, Transition
from backend.alerts.rules import AlertRule, render_annotation

# Only these transitions are notified, as Prometheus does (pending is not sent anywhere).
NOTIFIED = frozenset({AlertState.FIRING, AlertState.RESOLVED})


def starts_at_ms(transition: Transition, before: Alert | None) -> int:
    """When the alert became active: its pending start, kept from the state before a resolve."""
    if before is not None:
        # The stale rule fires without a pending phase: its start is when it fired.
        for started in (before.active_since_ms, before.fired_at_ms):
            if started is not None:
                return started
    return transition.time_ms


def notice_for(
    transition: Transition, rule: AlertRule | None, starts_ms: int, external_url: str
) -> AlertNotice:
    labels = dict(transition.labels)
    templates = rule.annotations if rule is not None else {}
    annotations = {
        key: render_annotation(template, transition.value, labels)
        for key, template in templates.items()
    }
    resolved = transition.to_state is AlertState.RESOLVED
    return AlertNotice(
        labels=labels,
        annotations=annotations,
        starts_at_ms=starts_ms,
        ends_at_ms=transition.time_ms if resolved else None,
        generator_url=f"{external_url.rstrip('/')}/alerts?rule={transition.rule}"
        if external_url
        else "",
    )


def notice_for_firing(alert: Alert, rule: AlertRule | None, external_url: str) -> AlertNotice:
    """A firing alert as re-sent to Alertmanager."""
    transition = Transition(
        alert.rule,
        alert.labels,
        AlertState.PENDING,
        AlertState.FIRING,
        alert.last_value,
        alert.fired_at_ms or 0,
        "",
    )
    return notice_for(transition, rule, starts_at_ms(transition, alert), external_url)
