"""SQL migrations (`backend/migrations/NNN_name.sql`), each applied once in a transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any constant works; it only has to differ from other advisory locks the database's users take.
_MIGRATION_LOCK_KEY = 0x486F7374_50756C73  # "HostPuls"
_FILE_NAME = re.compile(r"^(?P<version>\d{3})_(?P<label>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str  # the file name without ".sql", e.g. "001_series"
    sql: str


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in `directory` by version; bad names and duplicate versions are errors."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name!r} is not named NNN_lowercase_name.sql")
        version = int(match["version"])
        if version in found:
            raise ValueError(
                f"migration version {version:03d} is used twice: "
                f"{found[version].name} and {path.stem}"
            )
        found[version] = Migration(version, path.stem, path.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


def pending(migrations: list[Migration], applied_versions: set[int]) -> list[Migration]:
    return [m for m in migrations if m.version not in applied_versions]


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration on `conn`; returns the names applied (empty if up to date)."""
    migrations = discover(directory)
    # A session-level lock: a second process starting at the same time waits here, then finds
    # everything applied.
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        rows = await conn.fetch("SELECT version FROM schema_migrations")
        applied: list[str] = []
        for migration in pending(migrations, {row["version"] for row in rows}):
            async with conn.transaction():
                try:
                    await conn.execute(migration.sql)
                except asyncpg.PostgresError as error:
                    raise RuntimeError(f"migration {migration.name} failed: {error}") from error
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)


async def migrate_database(dsn: str) -> list[str]:
    """Connect to `dsn`, apply pending migrations, disconnect; returns the names applied."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
