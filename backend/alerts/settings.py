"""Alerting settings (the `alerting` section of the backend's settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.alerts.rule_spec import RuleFileError, read_rules_file
from conventions.settings_sources import Duration


class AlertingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # Rules loaded (and updated) at start-up, in addition to those managed through the API.
    rules_file: Path | None = None
    # Insert the shipped defaults (high CPU, memory, handles, agent stale) when absent.
    load_defaults: bool = True
    # A pending alert whose series is silent this long goes back to inactive ("data gap").
    max_gap: Duration = 60.0
    tick_interval: Duration = 1.0
    # The evaluating process holds a Redis lease this long and renews it every third of it.
    lease_ttl: Duration = 5.0
    external_url: str = ""
    webhook_timeout: Duration = 5.0
    retry_initial: Duration = 1.0
    retry_max: Duration = 60.0
    give_up_after: Duration = 86_400.0
    delivery_poll: Duration = 0.5
    alertmanager_urls: list[str] = Field(default_factory=list)
    # Alertmanager forgets alerts not re-sent within its resolve_timeout: re-send firing ones.
    alertmanager_resend: Duration = 60.0

    @field_validator("alertmanager_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} must be an http:// or https:// URL")
        return [url.rstrip("/") for url in urls]

    @field_validator("rules_file")
    @classmethod
    def _existing_file(cls, path: Path | None) -> Path | None:
        if path is not None:
            if not path.is_file():
                raise ValueError(f"{path} is not a readable file")
            try:
                read_rules_file(path)  # a broken rules file stops start-up, naming the rule field
            except RuleFileError as exc:
                raise ValueError(str(exc)) from None
        return path
