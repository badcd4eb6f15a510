"""Partition maintenance: the head's current and coming 2-hour windows exist before samples do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from backend.storage.maintenance import ensure_partitions, sample_partitions


async def test_the_current_window_and_three_ahead_are_created_once(pool: asyncpg.Pool) -> None:
    now = datetime(2031, 12, 31, 23, 30, tzinfo=UTC)

    created = await ensure_partitions(pool, now)
    again = await ensure_partitions(pool, now)

    assert created == [
        "samples_h2031123122",
        "samples_h2032010100",
        "samples_h2032010102",
        "samples_h2032010104",
    ]
    assert again == []
    assert set(created) <= set(await sample_partitions(pool))


async def test_a_partition_holds_exactly_its_two_utc_hours(pool: asyncpg.Pool) -> None:
    await ensure_partitions(pool, datetime(2031, 6, 1, 2, tzinfo=UTC), windows_ahead=1)
    await pool.execute(
        "INSERT INTO samples VALUES (1, '2031-06-01 03:59:59.999+00', 1), "
        "(1, '2031-06-01 04:00:00+00', 2)"
    )
    rows = await pool.fetch("SELECT tableoid::regclass::text AS part, value FROM samples")
    assert {(r["part"], r["value"]) for r in rows} == {
        ("samples_h2031060102", 1.0),
        ("samples_h2031060104", 2.0),
    }


async def test_naive_times_are_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await ensure_partitions(pool, datetime(2031, 1, 1))


async def test_processes_creating_the_same_windows_at_once_all_succeed(database_url: str) -> None:
    """Two workers starting together both create the coming windows (migration 043): each call
    succeeds and exactly one of them reports each partition as new."""
    connections = [await asyncpg.connect(database_url) for _ in range(4)]
    try:
        for hours in range(0, 40, 2):
            moment = datetime(2033, 3, 1, tzinfo=UTC) + timedelta(hours=hours)
            created = await asyncio.gather(
                *(
                    conn.fetchval("SELECT hostpulse_ensure_head_partition($1)", moment)
                    for conn in connections
                )
            )
            assert sorted(created) == [False, False, False, True]
    finally:
        for conn in connections:
            await conn.close()
