"""The agent's settings: defaults < YAML/JSON file < `HOSTPULSE_*` environment < CLI flags.

Only the CLI imports this (pydantic-settings and YAML cost ~15 MB of resident memory); the fields
themselves live in `exporter.config_models`, which the running agent uses. How the sources are
layered and how a bad value is worded is shared with the backend (`conventions.settings_sources`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import SettingsConfigDict

from conventions.settings_sources import ConfigError, LayeredSettings, load_layered
from exporter.config_models import (
    CollectorConfig,
    CollectorsConfig,
    JsonPushConfig,
    OtlpConfig,
    PrometheusConfig,
    RuntimeConfig,
    TopProcessesConfig,
)

__all__ = [
    "AgentConfig",
    "CollectorConfig",
    "CollectorsConfig",
    "ConfigError",
    "JsonPushConfig",
    "OtlpConfig",
    "PrometheusConfig",
    "RuntimeConfig",
    "TopProcessesConfig",
    "load_config",
]


class AgentConfig(LayeredSettings, RuntimeConfig):
    """The fields of `RuntimeConfig`, filled from flags, environment, file and defaults."""

    model_config = SettingsConfigDict(
        env_prefix="HOSTPULSE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> AgentConfig:
    """Build the effective config; ConfigError with one line on any problem."""
    return load_layered(AgentConfig, path, overrides or {})
