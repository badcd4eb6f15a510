"""How every HostPulse component reads its settings, and how a bad one is reported.

Precedence: defaults < YAML/JSON file < `HOSTPULSE_*` environment < command-line flags. An invalid
value stops start-up with one line naming the field and why (`config: interval: must be positive
(a duration such as '2s')`). Durations are Prometheus-style strings or numbers of seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BeforeValidator, PlainSerializer, ValidationError
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource
from pydantic_settings.exceptions import SettingsError

from conventions.durations import format_duration, parse_duration


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be positive (a duration such as '2s')")
    return seconds


# Seconds in Python; '2s'-style strings (or plain numbers of seconds) in files, env and flags.
Duration = Annotated[
    float,
    BeforeValidator(_positive_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


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


# The file's values for the one `load_layered` call in progress (a ContextVar keeps threads apart).
_FILE_VALUES: ContextVar[Mapping[str, Any] | None] = ContextVar("hostpulse_settings_file")


class LayeredSettings(BaseSettings):
    """Settings filled from flags (init kwargs), then the environment, then the file, then the
    defaults. Subclasses set `model_config` (env prefix, nesting) and their fields; build them
    with `load_layered`."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_values = dict(_FILE_VALUES.get(None) or {})
        return (init_settings, env_settings, InitSettingsSource(settings_cls, file_values))


SettingsT = TypeVar("SettingsT", bound=LayeredSettings)


def load_layered(
    settings_cls: type[SettingsT],
    path: Path | None,
    flags: Mapping[str, Any],
    *,
    source: str = "config",
) -> SettingsT:
    """The effective settings; ConfigError with one line (prefixed `source:`) on any problem."""
    file_values = read_config_file(path) if path is not None else {}
    token = _FILE_VALUES.set(file_values)
    try:
        return settings_cls(**flags)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from exc
    except SettingsError as exc:  # e.g. a HOSTPULSE_* variable holding malformed JSON
        raise ConfigError(" ".join(f"{source}: environment: {exc}".split())) from exc
    finally:
        _FILE_VALUES.reset(token)
