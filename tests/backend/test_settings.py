"""Settings: defaults < file < environment < flags; one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.settings import ConfigError, load_settings

DB = "postgresql://postgres@127.0.0.1:5432/hostpulse"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "HOSTPULSE_DATABASE_URL", "HOSTPULSE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("PORT", "RECENT_WINDOW", "SCRAPE_TARGETS", "REDIS_PREFIX", "HOST"):
        monkeypatch.delenv(f"HOSTPULSE_{name}", raising=False)


def test_database_url_is_required_and_has_no_default() -> None:
    with pytest.raises(ConfigError, match=r"database_url .*DATABASE_URL.*Field required"):
        load_settings()


def test_standard_database_and_redis_env_vars_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", DB)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/2")
    settings = load_settings()
    assert settings.database_url == DB
    assert settings.redis_url == "redis://127.0.0.1:6390/2"
    assert settings.port == 8000
    assert settings.redis_prefix == "hostpulse:"
    assert settings.bootstrap_agent_token is None


def test_hostpulse_prefixed_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://other/db")
    monkeypatch.setenv("HOSTPULSE_DATABASE_URL", DB)
    assert load_settings().database_url == DB


def test_precedence_file_then_environment_then_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "backend.yaml"
    config.write_text(
        f"database_url: {DB}\nport: 9001\nrecent_window: 10m\nredis_prefix: 'file:'\n"
        "scrape_targets:\n  - url: http://127.0.0.1:9100/metrics\n    interval: 5s\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HOSTPULSE_REDIS_PREFIX", "env:")
    monkeypatch.setenv("HOSTPULSE_PORT", "9002")
    settings = load_settings(config, {"port": 9003, "host": None})
    assert settings.port == 9003  # flag beats environment and file
    assert settings.redis_prefix == "env:"  # environment beats file
    assert settings.recent_window == 600.0  # Prometheus-style duration from the file
    assert settings.host == "127.0.0.1"  # a flag left unset keeps the lower layers
    target = settings.scrape_targets[0]
    assert (target.url, target.interval, target.timeout, target.host) == (
        "http://127.0.0.1:9100/metrics",
        5.0,
        10.0,
        None,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOSTPULSE_PORT": "eighty"}, "settings: port: Input should be a valid integer"),
        ({"HOSTPULSE_RECENT_WINDOW": "5 minutes"}, "settings: recent_window: "),
        ({"DATABASE_URL": "mysql://x/y"}, "database_url (or env DATABASE_URL): "),
        (
            {"HOSTPULSE_SCRAPE_TARGETS": '[{"url": "ftp://x"}]'},
            "settings: scrape_targets.0.url: must be an http",
        ),
    ],
)
def test_invalid_values_name_the_field(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", DB)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_setting_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "backend.yaml"
    config.write_text(f"database_url: {DB}\nprot: 80\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="prot: unknown setting"):
        load_settings(config)


def test_database_url_stays_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:s3cret@db/hp")
    assert "s3cret" not in repr(load_settings())
