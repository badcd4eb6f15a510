"""What the sender does with each answer, and how long it waits (pure)."""

from __future__ import annotations

import email.utils

import pytest

from backend.forward.sender import Outcome, backoff_seconds, outcome_of, retry_after_seconds
from backend.forward.settings import ForwardTarget


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SENT),
        (204, Outcome.SENT),
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (413, Outcome.REJECTED),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (None, Outcome.RETRY),
    ],
)
def test_outcome_by_status(status: int | None, outcome: Outcome) -> None:
    assert outcome_of(status) is outcome


def test_retry_after_as_seconds_or_http_date() -> None:
    assert retry_after_seconds("7", now=0.0) == 7.0
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds(date, now=now) == pytest.approx(30.0)
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None, now=now) is None


def test_backoff_doubles_up_to_the_cap_with_jitter_and_retry_after_wins() -> None:
    target = ForwardTarget(url="http://x:1/w", min_backoff=0.1, max_backoff=1.0, max_retry_after=60)
    assert [backoff_seconds(n, target, None, 1.0) for n in (1, 2, 3, 4, 5, 9)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    )
    assert backoff_seconds(2, target, None, 0.5) == pytest.approx(0.1)
    assert backoff_seconds(1, target, 5.0, 0.5) == 5.0
    assert backoff_seconds(1, target, 3600.0, 1.0) == 60.0
