"""What notifications carry for a transition (pure), and which alerts a mute covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.alerts.engine import Alert, AlertState, Transition
from backend.alerts.mutes import Mute, is_muted
from backend.alerts.notices import notice_for, starts_at_ms
from backend.alerts.rules import AlertRule

LABELS = (("alertname", "HighCpu"), ("host", "web-1"), ("severity", "warning"))
RULE = AlertRule(
    name="HighCpu",
    metric="cpu",
    annotations={"summary": "CPU {{ $value }} on {{ $labels.host }}"},
)


def transition(to: AlertState, at: int, value: float = 0.97) -> Transition:
    return Transition("HighCpu", LABELS, AlertState.FIRING, to, value, at, "")


def test_a_resolve_keeps_the_start_and_sets_the_end() -> None:
    before = Alert("HighCpu", LABELS, AlertState.FIRING, active_since_ms=1000, fired_at_ms=11000)
    resolved = transition(AlertState.RESOLVED, 20_000, value=0.2)
    notice = notice_for(resolved, RULE, starts_at_ms(resolved, before), "http://hp.example")
    assert (notice.starts_at_ms, notice.ends_at_ms, notice.status) == (1000, 20_000, "resolved")
    assert notice.annotations == {"summary": "CPU 0.2 on web-1"}
    assert notice.labels["alertname"] == "HighCpu"
    assert notice.generator_url == "http://hp.example/alerts?rule=HighCpu"


def test_a_stale_alert_starts_when_it_fired() -> None:
    before = Alert("AgentStale", LABELS, AlertState.FIRING, fired_at_ms=5000)
    assert starts_at_ms(transition(AlertState.RESOLVED, 9000), before) == 5000
    assert starts_at_ms(transition(AlertState.FIRING, 9000), None) == 9000


def test_a_mute_covers_its_host_or_its_rule_on_its_host_until_it_ends() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    later = now + timedelta(hours=1)
    host_mute = [Mute(1, "web-1", None, later, "")]
    rule_mute = [Mute(2, "web-1", "HighMemory", later, "")]
    labels = dict(LABELS)
    assert is_muted(host_mute, "HighCpu", labels, now)
    assert not is_muted(host_mute, "HighCpu", {**labels, "host": "web-2"}, now)
    assert not is_muted(rule_mute, "HighCpu", labels, now)
    assert is_muted(rule_mute, "HighMemory", labels, now)
    assert not is_muted(host_mute, "HighCpu", labels, later)
