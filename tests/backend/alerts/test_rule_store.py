"""Rules in PostgreSQL: seeding from the shipped defaults and a rules file, at every start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from backend.alerts import rule_store
from backend.alerts.service import seed_configured_rules
from backend.alerts.settings import AlertingSettings
from backend.settings import ConfigError, load_settings


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield created
    finally:
        await created.close()


async def by_name(pool: asyncpg.Pool) -> dict[str, rule_store.StoredRule]:
    return {s.spec.name: s for s in await rule_store.list_rules(pool)}


async def test_a_disabled_default_stays_disabled_and_the_rules_file_wins_at_each_start(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(
        "rules:\n"
        "  - {name: HighMemory, metric: system_memory_utilization_ratio, threshold: 0.5}\n"
        "  - {name: DiskBusy, metric: system_disk_io_bytes_total, threshold: 1e9, for: 1m}\n"
    )
    settings = AlertingSettings(rules_file=rules_file)
    await seed_configured_rules(pool, settings)
    rules = await by_name(pool)
    assert (rules["HighMemory"].source, rules["HighMemory"].spec.threshold) == ("file", 0.5)
    assert rules["DiskBusy"].spec.for_ == 60
    assert rules["HighCpu"].source == "defaults"

    await rule_store.set_enabled(pool, rules["HighCpu"].id, False)
    await rule_store.set_enabled(pool, rules["DiskBusy"].id, False)
    await seed_configured_rules(pool, settings)  # the next start-up
    rules = await by_name(pool)
    assert rules["HighCpu"].spec.enabled is False  # an admin's choice survives restarts
    assert rules["DiskBusy"].spec.enabled is True  # the file says what file rules are
    assert len(rules) == 5


async def test_without_defaults_only_file_rules_exist(pool: asyncpg.Pool, tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text("rules: [{name: Only, metric: up, op: '<', threshold: 1}]\n")
    await seed_configured_rules(pool, AlertingSettings(rules_file=rules_file, load_defaults=False))
    assert list(await by_name(pool)) == ["Only"]


def test_a_missing_rules_file_stops_start_up_naming_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "backend.yml"
    config.write_text(
        "database_url: postgresql://x@127.0.0.1/db\n"
        f"alerting:\n  rules_file: {tmp_path / 'nope.yml'}\n"
    )
    with pytest.raises(ConfigError, match=r"alerting\.rules_file"):
        load_settings(config)
    (tmp_path / "nope.yml").write_text("rules: [{name: X, metric: m, op: '=>'}]\n")
    with pytest.raises(ConfigError, match=r"alerting\.rules_file: .*nope.yml: rules\.0\.op"):
        load_settings(config)
