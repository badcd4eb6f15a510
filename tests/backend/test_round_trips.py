"""SharedRoundTrip: concurrent callers share round trips, and each gets its own results."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from backend.round_trips import SharedRoundTrip


class SlowEcho:
    """A stand-in for a Redis script: records each round trip, answers item * 10."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.round_trips: list[list[int]] = []
        self.fail_with = fail_with

    async def send(self, items: list[int]) -> list[int]:
        self.round_trips.append(items)
        await asyncio.sleep(0.02)
        if self.fail_with is not None:
            raise self.fail_with
        return [item * 10 for item in items]


async def test_a_lone_caller_goes_at_once_and_later_ones_share_the_next_round_trip() -> None:
    echo = SlowEcho()
    shared = SharedRoundTrip(echo.send, name="test")
    first = asyncio.create_task(shared([1]))
    await asyncio.sleep(0)  # the first round trip is now in flight
    rest = [asyncio.create_task(shared([n, n + 100])) for n in (2, 3, 4)]
    assert await first == [10]
    assert await asyncio.gather(*rest) == [[20, 1020], [30, 1030], [40, 1040]]
    assert echo.round_trips == [[1], [2, 102, 3, 103, 4, 104]]


async def test_a_failed_round_trip_fails_its_callers_and_the_next_one_still_runs() -> None:
    echo = SlowEcho(fail_with=ConnectionError("redis away"))
    shared = SharedRoundTrip(echo.send, name="test")
    with pytest.raises(ConnectionError):
        await shared([1])
    echo.fail_with = None
    assert await shared([2]) == [20]


async def test_a_cancelled_callers_results_go_to_on_abandoned() -> None:
    echo = SlowEcho()
    abandoned: list[tuple[Sequence[int], list[int]]] = []

    async def note(items: Sequence[int], results: list[int]) -> None:
        abandoned.append((items, results))

    shared = SharedRoundTrip(echo.send, name="test", on_abandoned=note)
    gone = asyncio.create_task(shared([7]))
    stays = asyncio.create_task(shared([8]))
    await asyncio.sleep(0.005)
    gone.cancel()
    assert await stays == [80]
    assert abandoned == [([7], [70])]
