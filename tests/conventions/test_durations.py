"""Prometheus-style durations, as every HostPulse config and rule writes them."""

from __future__ import annotations

import pytest

from conventions.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2.0), ("5m", 300.0), ("1h30m", 5400.0), ("1.5", 1.5), (3, 3.0)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "s", "2s3", "inf", "nan"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for seconds in (0.5, 2.0, 60.0, 90.0, 3600.0):
        assert parse_duration(format_duration(seconds)) == seconds
