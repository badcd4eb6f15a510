"""Partition maintenance: today's and the coming days' partitions exist before samples arrive."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from backend.storage.maintenance import ensure_partitions, sample_partitions


async def test_partitions_for_today_and_two_days_ahead_are_created_once(
    pool: asyncpg.Pool,
) -> None:
    now = datetime(2031, 12, 31, 23, 30, tzinfo=UTC)

    created = await ensure_partitions(pool, now)
    again = await ensure_partitions(pool, now)

    assert created == ["samples_p20311231", "samples_p20320101", "samples_p20320102"]
    assert again == []
    assert set(created) <= set(await sample_partitions(pool))


async def test_a_partition_holds_exactly_its_utc_day(pool: asyncpg.Pool) -> None:
    await ensure_partitions(pool, datetime(2031, 6, 1, tzinfo=UTC), days_ahead=1)
    await pool.execute(
        "INSERT INTO samples VALUES (1, '2031-06-01 23:59:59.999+00', 1), "
        "(1, '2031-06-02 00:00:00+00', 2)"
    )
    rows = await pool.fetch("SELECT tableoid::regclass::text AS part, value FROM samples")
    assert {(r["part"], r["value"]) for r in rows} == {
        ("samples_p20310601", 1.0),
        ("samples_p20310602", 2.0),
    }


async def test_naive_times_are_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await ensure_partitions(pool, datetime(2031, 1, 1))
