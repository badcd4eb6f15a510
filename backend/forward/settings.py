"""The `forward:` section of the backend settings: where accepted samples are sent on to."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from conventions.settings_sources import Duration

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TARGET_NAME = re.compile(r"^[a-zA-Z0-9_.:-]{1,100}$")


class MetricSelection(BaseModel):
    """Which metrics a target receives, by name (full-match regular expressions): those matching
    one of `match` (every metric when empty), minus those matching one of `drop`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)

    @field_validator("match", "drop")
    @classmethod
    def _regexes(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression ({exc})") from None
        return values


class ForwardTarget(BaseModel):
    """One remote_write receiver (Prometheus, Mimir, Thanos Receive, VictoriaMetrics...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    # Names the target's queue and its self-metrics; defaults to the URL's host:port.
    name: str = ""
    # A file holding the bearer token (re-read for every request, so rotating it needs no
    # restart); never the token itself in the settings.
    bearer_token_file: Path | None = None
    # Extra request headers that are not secrets, e.g. {"X-Scope-OrgID": "fleet"} for Mimir.
    headers: dict[str, str] = Field(default_factory=dict)
    metrics: MetricSelection = MetricSelection()
    # Added to every series unless it has that label already, e.g. {"hostpulse_host": "hp-1"}.
    extra_labels: dict[str, str] = Field(default_factory=dict)
    # Samples kept in the durable queue while the target is away; beyond it the oldest are
    # dropped (and counted). 20 million ~ 10 minutes of 2,000 agents at 60 samples every 2 s.
    queue_max_samples: int = Field(default=20_000_000, ge=1)
    batch_samples: int = Field(default=2_000, ge=1, le=100_000)
    timeout: Duration = 30.0
    min_backoff: Duration = 0.03
    max_backoff: Duration = 5.0
    # A Retry-After longer than this is cut to it (a misconfigured target cannot stall us for days).
    max_retry_after: Duration = 300.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("extra_labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name in labels:
            if not _LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"{name!r} is not a valid Prometheus label name")
        return labels

    @model_validator(mode="after")
    def _default_name(self) -> ForwardTarget:
        if not self.name:
            object.__setattr__(self, "name", urlsplit(self.url).netloc)
        if not _TARGET_NAME.match(self.name):
            raise ValueError(f"name {self.name!r}: use 1-100 of a-z A-Z 0-9 _ . : -")
        if self.min_backoff > self.max_backoff:
            raise ValueError("min_backoff is longer than max_backoff")
        return self


class ForwardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: list[ForwardTarget] = Field(default_factory=list)
    # How often each process moves what it accepted into the durable queue.
    flush_interval: Duration = 0.5
    # Samples a process holds in memory waiting for that (while PostgreSQL is away, say);
    # beyond it new samples are dropped for forwarding (and counted), never for ingest.
    outbox_max_samples: int = Field(default=500_000, ge=1)

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, targets: list[ForwardTarget]) -> list[ForwardTarget]:
        names = [t.name for t in targets]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two targets are named {name!r}: give each its own `name`")
        return targets

    @property
    def enabled(self) -> bool:
        return bool(self.targets)
