"""The pure alert engine, driven with plain samples and clock values (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from backend.alerts.engine import (
    Alert,
    AlertKey,
    AlertState,
    Observation,
    Transition,
    evaluate,
    retire,
)
from backend.alerts.rules import AlertRule, RuleKind, render_annotation

CPU = "system_cpu_utilization_ratio"
HIGH_CPU = AlertRule(
    name="HighCpu",
    metric=CPU,
    matchers={"cpu_mode": "busy"},
    op=">",
    threshold=0.9,
    for_seconds=10,
    labels={"severity": "critical"},
)
GAP_MS = 6_000


class Clock:
    """Feeds one sample every 2 s, the agent's default interval, and keeps every transition."""

    def __init__(self, rules: list[AlertRule]) -> None:
        self.rules = rules
        self.alerts: dict[AlertKey, Alert] = {}
        self.transitions: list[Transition] = []
        self.now_ms = 1_700_000_000_000

    def feed(self, values: Iterable[float], host: str = "web-1", step_ms: int = 2000) -> None:
        for value in values:
            self.now_ms += step_ms
            obs = Observation(host, CPU, {"cpu_mode": "busy"}, self.now_ms, value)
            self._run([obs])

    def wait(self, ms: int) -> None:
        self.now_ms += ms
        self._run([])

    def _run(self, observations: list[Observation]) -> None:
        out = evaluate(self.rules, self.alerts, observations, self.now_ms, max_gap_ms=GAP_MS)
        self.alerts = out.alerts
        self.transitions += out.transitions

    def targets(self) -> list[AlertState]:
        return [t.to_state for t in self.transitions]


def test_cpu_above_threshold_for_10s_fires_once_and_resolves_once() -> None:
    clock = Clock([HIGH_CPU])
    clock.feed([0.5, 0.95])  # pending from the 2nd sample
    assert clock.targets() == [AlertState.PENDING]
    clock.feed([0.95] * 4)  # 8 s after pending started: still pending
    assert clock.targets() == [AlertState.PENDING]
    clock.feed([0.97])  # 10 s: fires
    clock.feed([0.99] * 10)  # stays firing without repeating the transition
    clock.feed([0.2])
    clock.feed([0.2] * 5)
    assert clock.targets() == [AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED]
    fired = clock.transitions[1]
    assert fired.value == 0.97
    assert dict(fired.labels) == {
        "alertname": "HighCpu",
        "host": "web-1",
        "cpu_mode": "busy",
        "severity": "critical",
    }


def test_short_spike_only_goes_pending_then_back() -> None:
    clock = Clock([HIGH_CPU])
    clock.feed([0.95, 0.95, 0.3])
    assert clock.targets() == [AlertState.PENDING, AlertState.INACTIVE]


def test_hysteresis_stops_flapping_around_the_threshold() -> None:
    rule = AlertRule(
        name="HighCpu", metric=CPU, op=">", threshold=0.9, for_seconds=0, resolve_threshold=0.8
    )
    clock = Clock([rule])
    clock.feed([0.95, 0.89, 0.91, 0.85, 0.92, 0.88, 0.93])  # flaps around 0.9, never below 0.8
    assert clock.targets() == [AlertState.FIRING]
    clock.feed([0.7])
    assert clock.targets() == [AlertState.FIRING, AlertState.RESOLVED]


def test_without_hysteresis_the_same_values_flap() -> None:
    rule = AlertRule(name="HighCpu", metric=CPU, op=">", threshold=0.9, for_seconds=0)
    clock = Clock([rule])
    clock.feed([0.95, 0.89, 0.91])
    assert clock.targets() == [AlertState.FIRING, AlertState.RESOLVED, AlertState.FIRING]


def test_keep_firing_for_bridges_short_dips() -> None:
    rule = AlertRule(
        name="HighCpu", metric=CPU, threshold=0.9, for_seconds=0, keep_firing_for_seconds=5
    )
    clock = Clock([rule])
    clock.feed([0.95, 0.5, 0.5, 0.95])  # dips for 4 s < 5 s
    assert clock.targets() == [AlertState.FIRING]
    clock.feed([0.5, 0.5, 0.5])  # 6 s below
    assert clock.targets() == [AlertState.FIRING, AlertState.RESOLVED]


def test_a_gap_resets_pending_explicitly_instead_of_keeping_the_timer() -> None:
    clock = Clock([HIGH_CPU])
    clock.feed([0.95, 0.95])
    clock.wait(GAP_MS + 1)  # the tick notices the gap
    assert [(t.to_state, t.reason) for t in clock.transitions] == [
        (AlertState.PENDING, "condition met"),
        (AlertState.INACTIVE, "data gap"),
    ]
    clock.feed([0.95] * 5)  # a new pending period starts; 8 s is not yet 10 s
    assert clock.targets()[-1] is AlertState.PENDING
    assert AlertState.FIRING not in clock.targets()


def test_gap_seen_by_the_next_sample_also_resets_pending() -> None:
    clock = Clock([HIGH_CPU])
    clock.feed([0.95])
    clock.feed([0.95], step_ms=GAP_MS + 2000)  # no tick in between
    assert [t.reason for t in clock.transitions] == ["condition met", "data gap", "condition met"]


def test_firing_alert_keeps_firing_through_a_gap() -> None:
    rule = AlertRule(name="HighCpu", metric=CPU, threshold=0.9, for_seconds=0)
    clock = Clock([rule])
    clock.feed([0.95])
    clock.wait(60_000)
    assert clock.targets() == [AlertState.FIRING]


def test_stale_agent_fires_and_resolves_when_data_returns() -> None:
    stale = AlertRule(name="AgentStale", metric="*", kind=RuleKind.ABSENT, for_seconds=30)
    clock = Clock([stale])
    clock.feed([0.1, 0.1])
    clock.wait(20_000)
    assert clock.targets() == []
    clock.wait(11_000)
    assert clock.targets() == [AlertState.FIRING]
    assert dict(clock.transitions[0].labels)["host"] == "web-1"
    clock.wait(10_000)
    assert clock.targets() == [AlertState.FIRING]  # no repeat while still silent
    clock.feed([0.1])
    assert clock.targets() == [AlertState.FIRING, AlertState.RESOLVED]


def test_only_a_tick_checks_staleness_and_gaps() -> None:
    stale = AlertRule(name="AgentStale", metric="*", kind=RuleKind.ABSENT, for_seconds=30)
    clock = Clock([stale, HIGH_CPU])
    clock.feed([0.95])  # HighCpu pending, host seen
    later = clock.now_ms + 60_000
    quiet = evaluate(clock.rules, clock.alerts, [], later, max_gap_ms=GAP_MS, tick=False)
    assert quiet.transitions == []
    ticked = evaluate(clock.rules, clock.alerts, [], later, max_gap_ms=GAP_MS, tick=True)
    assert sorted((t.rule, t.to_state) for t in ticked.transitions) == [
        ("AgentStale", AlertState.FIRING),
        ("HighCpu", AlertState.INACTIVE),  # the pending timer does not survive the gap
    ]


def test_a_tick_over_a_large_fleet_moves_only_the_silent_hosts_in_label_order() -> None:
    stale = AlertRule(name="AgentStale", metric="*", kind=RuleKind.ABSENT, for_seconds=30)
    clock = Clock([stale, HIGH_CPU])
    for host in range(300):
        clock.feed([0.95], host=f"web-{host:03}", step_ms=0)  # all seen; HighCpu pending
    later = clock.now_ms + 40_000
    heard_from = [
        Observation(f"web-{h:03}", CPU, {"cpu_mode": "busy"}, later, 0.1) for h in range(3, 300)
    ]
    ticked = evaluate(clock.rules, clock.alerts, heard_from, later, max_gap_ms=GAP_MS)
    # Three hosts went silent: their stale alerts fire, in label order, and their pending
    # HighCpu alerts end with the gap; the other 297 clear on their own samples.
    moved = [(t.rule, dict(t.labels)["host"], t.to_state) for t in ticked.transitions]
    assert moved[-6:] == [
        ("AgentStale", "web-000", AlertState.FIRING),
        ("AgentStale", "web-001", AlertState.FIRING),
        ("AgentStale", "web-002", AlertState.FIRING),
        ("HighCpu", "web-000", AlertState.INACTIVE),
        ("HighCpu", "web-001", AlertState.INACTIVE),
        ("HighCpu", "web-002", AlertState.INACTIVE),
    ]
    assert len(moved) == 297 + 6


def test_hosts_and_matchers_are_separate_series() -> None:
    rule = AlertRule(name="HighCpu", metric=CPU, matchers={"host": "db-1"}, for_seconds=0)
    clock = Clock([rule])
    clock.feed([0.95], host="web-1")
    assert clock.targets() == []
    clock.feed([0.95], host="db-1")
    assert clock.targets() == [AlertState.FIRING]


def test_disabled_rule_never_transitions() -> None:
    rule = AlertRule(name="HighCpu", metric=CPU, for_seconds=0, enabled=False)
    clock = Clock([rule])
    clock.feed([0.99] * 5)
    assert clock.transitions == []


def test_operators() -> None:
    for op, value, expected in [
        (">", 1.0, False),
        (">=", 1.0, True),
        ("<", 0.5, True),
        ("<=", 1.0, True),
        ("==", 1.0, True),
        ("!=", 1.0, False),
    ]:
        rule = AlertRule(name="r", metric=CPU, op=op, threshold=1.0)  # type: ignore[arg-type]
        assert rule.breaches(value, firing=False) is expected, op


def test_out_of_order_samples_do_not_rewind_state() -> None:
    clock = Clock([HIGH_CPU])
    clock.feed([0.95])
    late = Observation("web-1", CPU, {"cpu_mode": "busy"}, clock.now_ms - 5000, 0.1)
    out = evaluate([HIGH_CPU], clock.alerts, [late], clock.now_ms, max_gap_ms=GAP_MS)
    assert out.transitions == []


def test_annotation_templates_expand_value_and_labels() -> None:
    text = render_annotation(
        "CPU on {{ $labels.host }} is {{ $value }} (>{{$labels.missing}})", 0.953, {"host": "a"}
    )
    assert text == "CPU on a is 0.953 (>)"


def test_retiring_a_disabled_rule_resolves_its_firing_alerts_and_a_deleted_one_forgets_them() -> (
    None
):
    clock = Clock([replace(HIGH_CPU, for_seconds=0)])
    clock.feed([0.95])
    [(key, alert)] = clock.alerts.items()
    assert alert.state is AlertState.FIRING

    disabled = retire([replace(HIGH_CPU, enabled=False)], clock.alerts, clock.now_ms)
    [moved] = disabled.transitions
    assert (moved.from_state, moved.to_state, moved.reason) == (
        AlertState.FIRING,
        AlertState.RESOLVED,
        "rule disabled",
    )
    assert disabled.alerts[key].state is AlertState.INACTIVE

    deleted = retire([], clock.alerts, clock.now_ms)
    assert [t.reason for t in deleted.transitions] == ["rule deleted"]
    assert deleted.alerts == {}
    assert retire([HIGH_CPU], clock.alerts, clock.now_ms).transitions == []
