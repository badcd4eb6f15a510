"""The agent's settings: defaults < YAML/JSON file < `HOSTPULSE_*` environment < CLI flags.

Only the CLI imports this (pydantic-settings and YAML cost ~15 MB of resident memory); the fields
themselves live in `exporter.config_models`, which the running agent uses.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from exporter.config_models import (
    CollectorConfig,
    CollectorsConfig,
    Duration,
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
    "Duration",
    "JsonPushConfig",
    "OtlpConfig",
    "PrometheusConfig",
    "RuntimeConfig",
    "TopProcessesConfig",
    "describe_validation_error",
    "load_config",
    "read_config_file",
]


class AgentConfig(BaseSettings, RuntimeConfig):
    """The fields of `RuntimeConfig`, filled from flags, environment, file and defaults."""

    model_config = SettingsConfigDict(
        env_prefix="HOSTPULSE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags arrive as init kwargs; the file's values are injected by `load_config`.
        file_values = _FILE_VALUES.get() or {}
        return (init_settings, env_settings, InitSettingsSource(settings_cls, file_values))


# The file's values for the one `load_config` call in progress (a ContextVar keeps threads apart).
_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("hostpulse_config_file", default=None)


class ConfigError(Exception):
    """A config problem, phrased as one line naming the field and the reason."""


def read_config_file(path: Path) -> dict[str, Any]:
    """A YAML or JSON config file as a mapping; ConfigError if unreadable or not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"config file {path}: cannot read: {reason}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        detail = " ".join(str(exc).split())  # YAML errors span several lines
        raise ConfigError(f"config file {path}: not valid {kind}: {detail}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping of settings")
    return data


def describe_validation_error(exc: ValidationError, source: str = "config") -> str:
    """One line naming the first offending field and why."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    reason = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        reason = "unknown setting"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return " ".join(f"{source}: {field}: {reason}{suffix}".split())


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> AgentConfig:
    """Build the effective config; ConfigError with one line on any problem."""
    file_values = read_config_file(path) if path is not None else {}
    token = _FILE_VALUES.set(file_values)
    try:
        return AgentConfig(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc
    except SettingsError as exc:  # e.g. a HOSTPULSE_* variable holding malformed JSON
        raise ConfigError(" ".join(f"config: environment: {exc}".split())) from exc
    finally:
        _FILE_VALUES.reset(token)
