"""The agent's settings: defaults < YAML/JSON file < `HOSTPULSE_*` environment < CLI flags."""

from __future__ import annotations

import json
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from exporter.durations import format_duration, parse_duration


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


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectorConfig(_Section):
    enabled: bool = True
    interval: Duration | None = None  # None: the agent-wide interval


class TopProcessesConfig(CollectorConfig):
    top_n: int = Field(default=5, ge=1, le=50)


class CollectorsConfig(_Section):
    cpu: CollectorConfig = CollectorConfig()
    memory: CollectorConfig = CollectorConfig()
    # One /proc scan per cycle: top-N processes, system-wide threads and process counts.
    processes: TopProcessesConfig = TopProcessesConfig()
    disk: CollectorConfig = CollectorConfig()
    network: CollectorConfig = CollectorConfig()
    handles: CollectorConfig = CollectorConfig()
    # Load average, uptime, logical CPU count.
    system: CollectorConfig = CollectorConfig()


class PrometheusConfig(_Section):
    enabled: bool = True
    # Loopback by default: a cluster deployment sets 0.0.0.0:9860 so Prometheus can scrape it.
    listen: str = "127.0.0.1:9860"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not HOST:PORT (e.g. '127.0.0.1:9860')")
        return value


class OtlpConfig(_Section):
    enabled: bool = False
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    endpoint: str = "http://127.0.0.1:4317"
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    interval: Duration = 10.0
    timeout: Duration = 10.0
    insecure: bool = True

    _endpoint = field_validator("endpoint")(_http_url)


class JsonPushConfig(_Section):
    enabled: bool = False
    url: str = "http://127.0.0.1:8000/ingest/metrics"
    token: SecretStr | None = None
    # A file holding the token (e.g. a mounted secret); read once at start-up, wins over `token`.
    token_file: Path | None = None
    timeout: Duration = 5.0
    # At the default 2 s interval, 600 reports keep 20 minutes while the backend is away.
    buffer_capacity: int = Field(default=600, ge=1, le=1_000_000)
    max_batch: int = Field(default=50, ge=1, le=1000)
    backoff_initial: Duration = 1.0
    backoff_max: Duration = 60.0
    spool_dir: Path | None = None

    _url = field_validator("url")(_http_url)

    @model_validator(mode="after")
    def _token_and_backoff(self) -> Self:
        if self.token_file is not None:
            try:
                text = self.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"token_file {self.token_file}: cannot read: {exc.strerror or exc}"
                ) from exc
            if not text:
                raise ValueError(f"token_file {self.token_file}: file is empty")
            self.token = SecretStr(text)
        if self.enabled and (self.token is None or not self.token.get_secret_value()):
            raise ValueError(
                "token: required when json_push is enabled "
                "(set HOSTPULSE_JSON_PUSH__TOKEN or use --token-file)"
            )
        if self.backoff_initial > self.backoff_max:
            raise ValueError("backoff_initial: must not be larger than backoff_max")
        return self


class AgentConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOSTPULSE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    interval: Duration = 2.0
    host_name: str | None = Field(default=None, min_length=1, max_length=256)  # None: hostname
    procfs: Path = Path("/proc")
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_deadline: Duration = 5.0
    collectors: CollectorsConfig = CollectorsConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    otlp: OtlpConfig = OtlpConfig()
    json_push: JsonPushConfig = JsonPushConfig()

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

    def masked(self) -> dict[str, Any]:
        """The effective config as JSON-ready data; SecretStr fields dump as '**********'."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


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
