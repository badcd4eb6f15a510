"""The pure alert engine: rules + current alerts + samples + now -> new alerts + transitions.

No I/O: the service feeds it accepted samples (and a periodic tick for staleness) and persists,
notifies and broadcasts what comes out. States follow Prometheus: inactive -> pending -> firing ->
resolved (back to inactive).

Gaps are explicit: a pending alert whose series goes silent for longer than `max_gap_ms` is moved
back to inactive with reason "data gap" (its `for` timer does not silently survive the gap); a
firing alert keeps firing through a gap — whether the host is gone is the stale (absent) rule's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from operator import itemgetter

from backend.alerts.rules import AlertRule, RuleKind


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"  # only ever a transition's target; the stored state is then inactive


LabelSet = tuple[tuple[str, str], ...]
AlertKey = tuple[str, LabelSet]  # (rule name, the alert's labels)
_BY_KEY = itemgetter(0)  # orders (key, ...) tuples by their alert key


@dataclass(frozen=True, slots=True)
class Observation:
    host: str
    metric: str
    labels: Mapping[str, str]
    time_ms: int
    value: float


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    labels: LabelSet
    state: AlertState = AlertState.INACTIVE
    active_since_ms: int | None = None  # when the condition started holding (pending start)
    fired_at_ms: int | None = None
    last_value: float | None = None
    last_seen_ms: int | None = None
    last_breach_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    rule: str
    labels: LabelSet
    from_state: AlertState
    to_state: AlertState
    value: float | None
    time_ms: int
    reason: str


@dataclass(slots=True)
class Evaluation:
    alerts: dict[AlertKey, Alert]
    transitions: list[Transition] = field(default_factory=list)


def alert_labels(rule: AlertRule, host: str, series_labels: Mapping[str, str]) -> LabelSet:
    merged = {**series_labels, "host": host, **rule.labels, "alertname": rule.name}
    return tuple(sorted(merged.items()))


def evaluate(
    rules: Sequence[AlertRule],
    alerts: Mapping[AlertKey, Alert],
    observations: Iterable[Observation],
    now_ms: int,
    *,
    max_gap_ms: int,
    tick: bool = True,
) -> Evaluation:
    """Apply observations in time order, then (with `tick`) the staleness tick at `now_ms`.

    The tick visits every alert, so a caller evaluating many small batches ticks on a timer
    instead of with each batch."""
    result = Evaluation(alerts=dict(alerts))
    active_rules = [r for r in rules if r.enabled]
    for obs in sorted(observations, key=lambda o: o.time_ms):
        for rule in active_rules:
            if rule.kind is RuleKind.ABSENT:
                if _host_matches(rule, obs.host):
                    _observe_presence(rule, obs, result)
            elif rule.matches(obs.host, obs.metric, obs.labels):
                _observe_value(rule, obs, result, max_gap_ms)
    if tick:
        _tick(active_rules, result, now_ms, max_gap_ms)
    return result


def _host_matches(rule: AlertRule, host: str) -> bool:
    wanted = rule.matchers.get("host")
    return wanted is None or wanted == host


def _move(
    result: Evaluation, alert: Alert, new: Alert, target: AlertState, time_ms: int, why: str
) -> None:
    key = (alert.rule, alert.labels)
    result.alerts[key] = new
    result.transitions.append(
        Transition(alert.rule, alert.labels, alert.state, target, new.last_value, time_ms, why)
    )


def _observe_value(rule: AlertRule, obs: Observation, result: Evaluation, max_gap_ms: int) -> None:
    labels = alert_labels(rule, obs.host, obs.labels)
    key = (rule.name, labels)
    alert = result.alerts.get(key) or Alert(rule=rule.name, labels=labels)
    if alert.last_seen_ms is not None and obs.time_ms < alert.last_seen_ms:
        return  # out-of-order sample: the state already reflects newer data
    if alert.state is AlertState.PENDING and _gap(alert, obs.time_ms, max_gap_ms):
        reset = replace(alert, state=AlertState.INACTIVE, active_since_ms=None)
        _move(result, alert, reset, AlertState.INACTIVE, obs.time_ms, "data gap")
        alert = reset
    seen = replace(alert, last_value=obs.value, last_seen_ms=obs.time_ms)
    breach = rule.breaches(obs.value, firing=alert.state is AlertState.FIRING)
    if breach:
        _on_breach(rule, alert, replace(seen, last_breach_ms=obs.time_ms), result, obs.time_ms)
    else:
        _on_clear(rule, alert, seen, result, obs.time_ms)


def _on_breach(rule: AlertRule, old: Alert, seen: Alert, result: Evaluation, t: int) -> None:
    key = (old.rule, old.labels)
    if old.state is AlertState.INACTIVE:
        pending = replace(seen, state=AlertState.PENDING, active_since_ms=t)
        if rule.for_seconds <= 0:
            firing = replace(pending, state=AlertState.FIRING, fired_at_ms=t)
            _move(result, old, firing, AlertState.FIRING, t, "condition met")
        else:
            _move(result, old, pending, AlertState.PENDING, t, "condition met")
    elif old.state is AlertState.PENDING:
        since = old.active_since_ms if old.active_since_ms is not None else t
        if t - since >= rule.for_seconds * 1000:
            firing = replace(seen, state=AlertState.FIRING, fired_at_ms=t)
            why = f"condition held for {rule.for_seconds:g}s"
            _move(result, old, firing, AlertState.FIRING, t, why)
        else:
            result.alerts[key] = seen
    else:
        result.alerts[key] = seen


def _on_clear(rule: AlertRule, old: Alert, seen: Alert, result: Evaluation, t: int) -> None:
    key = (old.rule, old.labels)
    if old.state is AlertState.PENDING:
        cleared = replace(seen, state=AlertState.INACTIVE, active_since_ms=None)
        _move(result, old, cleared, AlertState.INACTIVE, t, "condition cleared")
    elif old.state is AlertState.FIRING:
        last_breach = old.last_breach_ms if old.last_breach_ms is not None else t
        if t - last_breach < rule.keep_firing_for_seconds * 1000:
            result.alerts[key] = seen
            return
        resolved = replace(seen, state=AlertState.INACTIVE, active_since_ms=None, fired_at_ms=None)
        _move(result, old, resolved, AlertState.RESOLVED, t, "condition cleared")
    else:
        result.alerts[key] = seen


def _observe_presence(rule: AlertRule, obs: Observation, result: Evaluation) -> None:
    labels = alert_labels(rule, obs.host, {})
    key = (rule.name, labels)
    alert = result.alerts.get(key) or Alert(rule=rule.name, labels=labels)
    if alert.last_seen_ms is not None and obs.time_ms <= alert.last_seen_ms:
        return
    seen = replace(alert, last_seen_ms=obs.time_ms, last_value=0.0)
    if alert.state is AlertState.FIRING:
        back = replace(seen, state=AlertState.INACTIVE, active_since_ms=None, fired_at_ms=None)
        _move(result, alert, back, AlertState.RESOLVED, obs.time_ms, "data from host again")
    else:
        result.alerts[key] = seen


def _gap(alert: Alert, now_ms: int, max_gap_ms: int) -> bool:
    return alert.last_seen_ms is not None and now_ms - alert.last_seen_ms > max_gap_ms


def _tick(rules: Sequence[AlertRule], result: Evaluation, now_ms: int, max_gap_ms: int) -> None:
    by_name = {r.name: r for r in rules}
    # Most alerts need nothing on a tick: pick the few that do, then visit those in key order
    # (sorting every alert of a 2,000-host fleet each second cost more than the tick's work).
    due: list[tuple[AlertKey, Alert, AlertRule, int]] = []  # and how long it has been silent
    for key, alert in result.alerts.items():
        rule = by_name.get(alert.rule)
        if rule is None or alert.last_seen_ms is None:
            continue
        silent_ms = now_ms - alert.last_seen_ms
        if rule.kind is RuleKind.ABSENT:
            if alert.state is AlertState.FIRING or silent_ms / 1000 >= rule.for_seconds:
                due.append((key, alert, rule, silent_ms))
        elif alert.state is AlertState.PENDING and silent_ms > max_gap_ms:
            due.append((key, alert, rule, silent_ms))
    for key, alert, rule, silent_ms in sorted(due, key=_BY_KEY):
        if rule.kind is not RuleKind.ABSENT:
            reset = replace(alert, state=AlertState.INACTIVE, active_since_ms=None)
            _move(result, alert, reset, AlertState.INACTIVE, now_ms, "data gap")
        elif alert.state is AlertState.FIRING:
            result.alerts[key] = replace(alert, last_value=silent_ms / 1000)
        else:
            silent_s = silent_ms / 1000
            firing = replace(
                alert, state=AlertState.FIRING, fired_at_ms=now_ms, last_value=silent_s
            )
            _move(result, alert, firing, AlertState.FIRING, now_ms, f"no data for {silent_s:g}s")


def retire(rules: Sequence[AlertRule], alerts: Mapping[AlertKey, Alert], now_ms: int) -> Evaluation:
    """End the alerts of disabled or deleted rules: firing ones resolve, pending ones go back to
    inactive (with a transition each), and a deleted rule's alerts are forgotten."""
    by_name = {r.name: r for r in rules}
    result = Evaluation(alerts=dict(alerts))
    enabled = {r.name for r in rules if r.enabled}
    ending = [(key, alert) for key, alert in alerts.items() if alert.rule not in enabled]
    for key, alert in sorted(ending, key=_BY_KEY):
        rule = by_name.get(alert.rule)
        why = "rule deleted" if rule is None else "rule disabled"
        if alert.state is not AlertState.INACTIVE:
            ended = replace(
                alert, state=AlertState.INACTIVE, active_since_ms=None, fired_at_ms=None
            )
            target = (
                AlertState.RESOLVED if alert.state is AlertState.FIRING else AlertState.INACTIVE
            )
            _move(result, alert, ended, target, now_ms, why)
        if rule is None:
            del result.alerts[key]
    return result
