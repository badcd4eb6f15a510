"""The backend's settings: defaults < YAML/JSON file < environment (`HOSTPULSE_*`, `DATABASE_URL`,
`REDIS_URL`) < command-line flags. Secrets have no defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr
from pydantic import field_validator as _field_validator
from pydantic import model_validator as _model_validator
from pydantic_settings import SettingsConfigDict

from backend.alerts.settings import AlertingSettings
from backend.auth.settings import AuthSettings
from backend.forward.settings import ForwardSettings
from backend.ratelimit.settings import RateLimitSettings
from backend.security import SecuritySettings, check_cors_origins
from backend.storage.retention import RetentionSettings
from backend.storage.sealing import SealingSettings
from backend.tls import ClientAuth, check_tls_files, uvicorn_ssl_options
from conventions.settings_sources import ConfigError, Duration, LayeredSettings, load_layered

__all__ = ["BackendSettings", "ConfigError", "ScrapeTarget", "load_settings"]

MIB = 1024 * 1024


class ScrapeTarget(BaseModel):
    """A Prometheus-format endpoint the backend scrapes; `host` defaults to the URL's host:port."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    interval: Duration = 15.0
    timeout: Duration = 10.0
    host: str | None = None

    @_field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class BackendSettings(LayeredSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOSTPULSE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        populate_by_name=True,
    )

    # Required, no default: it usually carries a password (hence kept out of repr()).
    database_url: str = Field(
        validation_alias=AliasChoices("HOSTPULSE_DATABASE_URL", "DATABASE_URL", "database_url"),
        repr=False,
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("HOSTPULSE_REDIS_URL", "REDIS_URL", "redis_url"),
        repr=False,
    )
    redis_prefix: str = Field(default="hostpulse:", min_length=1, max_length=100)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # One log line per request costs more than some requests; off unless asked for.
    access_log: bool = False
    recent_window: Duration = 300.0
    # A host whose last sample is older than this is shown as `stale`.
    host_stale_after: Duration = 30.0
    bootstrap_agent_token: SecretStr | None = None
    max_body_bytes: int = Field(default=10 * MIB, ge=1024)
    scrape_targets: list[ScrapeTarget] = Field(default_factory=list)
    writer_queue_max_samples: int = Field(default=200_000, ge=1)
    # Up to this many samples per transaction: when requests wait for their commit, bigger
    # batches under load keep p99 at 1,000 reports/s near 100 ms (5,000: ~400 ms; bench/).
    writer_batch_samples: int = Field(default=20_000, ge=1)
    # Ingest answers once its batch is committed: the writer gathers for at most this long.
    writer_flush_interval: Duration = 0.02
    # Batches written at once, each on a connection of its own: with 2, a batch PostgreSQL is
    # slow to take does not hold up the ones behind it, but batches get smaller (ingest capacity
    # -12 % on 2 cores) and p99 with sealing running did not measurably improve (bench/README).
    writer_lanes: int = Field(default=1, ge=1, le=16)
    shutdown_timeout: Duration = 10.0
    # Ingest not committed in PostgreSQL within this → 503 + Retry-After (the batch stays queued).
    ingest_commit_timeout: Duration = Field(default=3.0, gt=0)
    partition_maintenance_interval: Duration = 3600.0
    # Scraping, retention, sealing and each forward target run in one process of all those on
    # the database (backend/leadership.py); the others check this often whether to take over.
    takeover_interval: Duration = Field(default=2.0, gt=0)
    # Frames waiting per WebSocket client; a client further behind skips frames.
    live_client_queue: int = Field(default=64, ge=1, le=10_000)
    # Fleet summaries (`summary` subscribers) are sent at most this often, changed hosts only.
    live_summary_flush: Duration = 1.0
    cors_origins: list[str] = Field(default_factory=list)
    alerting: AlertingSettings = AlertingSettings()
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    sealing: SealingSettings = Field(default_factory=SealingSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    forward: ForwardSettings = Field(default_factory=ForwardSettings)
    # HTTPS and WSS when both are set (PEM files, read at start-up; docs/tls.md).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Client certificates: none | optional (verified when sent) | required (refused without one).
    tls_client_auth: ClientAuth = "none"
    tls_client_ca: Path | None = None

    _cors_origins = _field_validator("cors_origins")(check_cors_origins)

    @_field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @_model_validator(mode="after")
    def _tls_files(self) -> BackendSettings:
        check_tls_files(self.tls_cert, self.tls_key, self.tls_client_auth, self.tls_client_ca)
        return self

    def uvicorn_ssl_options(self) -> dict[str, Any]:
        """uvicorn's ssl_* arguments for these settings ({} without TLS)."""
        return uvicorn_ssl_options(
            self.tls_cert, self.tls_key, self.tls_client_auth, self.tls_client_ca
        )

    @_field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


_ALIASED = {"HOSTPULSE_DATABASE_URL": "database_url", "HOSTPULSE_REDIS_URL": "redis_url"}


def load_settings(
    path: Path | None = None, overrides: dict[str, Any] | None = None
) -> BackendSettings:
    """The effective settings; ConfigError with one line naming the field on any problem."""
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        return load_layered(BackendSettings, path, flags, source="settings")
    except ConfigError as exc:
        line = str(exc)
        # Errors on aliased fields carry the first alias; name the field and its env vars instead.
        for env_name, field in _ALIASED.items():
            line = line.replace(
                f": {env_name}:", f": {field} (or env {env_name.removeprefix('HOSTPULSE_')}):"
            )
        # The TLS check spans several fields; its reason starts with the one to fix.
        line = line.replace(": (top level): tls_", ": tls_")
        raise ConfigError(line) from exc.__cause__
