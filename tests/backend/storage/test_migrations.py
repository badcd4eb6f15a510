"""Migrations: applied once, in order, safely from two processes at once, rolled back on error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from backend.storage.migrations import discover, migrate, migrate_database


async def test_fresh_database_gets_every_migration_then_nothing(empty_database_url: str) -> None:
    expected = [m.name for m in discover()]
    assert expected[0].startswith("001_")

    assert await migrate_database(empty_database_url) == expected
    assert await migrate_database(empty_database_url) == []

    conn = await asyncpg.connect(empty_database_url)
    try:
        rows = await conn.fetch("SELECT name FROM schema_migrations ORDER BY version")
        tables = {
            r["relname"]
            for r in await conn.fetch("SELECT relname FROM pg_class WHERE relkind IN ('r', 'p')")
        }
    finally:
        await conn.close()
    assert [r["name"] for r in rows] == expected
    assert {"series", "samples", "rollup_1m", "rollup_1h", "process_snapshots"} <= tables


async def test_two_processes_migrating_at_once_apply_each_file_once(
    empty_database_url: str,
) -> None:
    first, second = await asyncio.gather(
        migrate_database(empty_database_url), migrate_database(empty_database_url)
    )

    assert sorted(first + second) == [m.name for m in discover()]
    assert [] in (first, second)


async def test_a_failing_migration_rolls_back_and_names_its_file(
    empty_database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE half (id int); SELECT no_such_fn();")
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(RuntimeError, match="002_broken"):
            await migrate(conn, tmp_path)
        applied = await conn.fetch("SELECT name FROM schema_migrations")
        half = await conn.fetchval("SELECT to_regclass('half')")

        (tmp_path / "002_broken.sql").write_text("CREATE TABLE half (id int);")
        assert await migrate(conn, tmp_path) == ["002_broken"]
    finally:
        await conn.close()
    assert [r["name"] for r in applied] == ["001_good"]
    assert half is None


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["1_short.sql"], "1_short.sql"),
        (["001_Upper.sql"], "001_Upper.sql"),
        (["001_a.sql", "001_b.sql"], "001 is used twice"),
    ],
)
def test_badly_named_migration_files_are_refused(
    tmp_path: Path, files: list[str], message: str
) -> None:
    for name in files:
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(ValueError, match=message):
        discover(tmp_path)
