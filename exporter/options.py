"""The validated settings as frozen dataclasses: what the agent, its collectors and outputs take.

`exporter.config_models` validates with pydantic and converts to these (`.options()`); the runtime
process rebuilds them from the handed-over JSON without importing pydantic, whose models would
cost ~19 MB of resident memory for as long as the agent runs. No defaults here: every value comes
from the validated config, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from exporter.web_config import WebConfig, web_config_from_data


@dataclass(frozen=True, slots=True)
class Secret:
    """A token or header value that never shows in a repr or a log line."""

    value: str = field(repr=False)

    def get_secret_value(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class CollectorOptions:
    enabled: bool
    interval: float | None  # None: the agent-wide interval


@dataclass(frozen=True, slots=True)
class TopProcessesOptions(CollectorOptions):
    top_n: int


@dataclass(frozen=True, slots=True)
class NetworkOptions(CollectorOptions):
    namespace: Literal["auto", "pid1", "self"]


# Each registered collector's options, by name (`exporter.collectors.registry`).
CollectorsOptions = Mapping[str, CollectorOptions]


@dataclass(frozen=True, slots=True)
class PrometheusOptions:
    enabled: bool
    listen: str
    web_config: WebConfig | None  # TLS and basic auth for /metrics (`--web.config.file`)


@dataclass(frozen=True, slots=True)
class OtlpOptions:
    enabled: bool
    protocol: str  # "grpc" | "http/protobuf"
    endpoint: str
    headers: Mapping[str, Secret]
    interval: float
    timeout: float
    # https:// only: trust this CA file alone (else the system's); a client certificate for mTLS.
    ca_file: Path | None
    client_cert: Path | None
    client_key: Path | None


@dataclass(frozen=True, slots=True)
class JsonPushOptions:
    enabled: bool
    url: str
    token: Secret | None
    token_file: Path | None
    timeout: float
    buffer_capacity: int
    max_batch: int
    backoff_initial: float
    backoff_max: float
    spool_dir: Path | None
    # https:// only: trust this CA file alone (else the system's); a client certificate for mTLS.
    ca_file: Path | None
    client_cert: Path | None
    client_key: Path | None


@dataclass(frozen=True, slots=True)
class AgentOptions:
    interval: float
    host_name: str | None
    procfs: Path
    log_format: Literal["json", "text"]
    log_level: str
    shutdown_deadline: float
    collectors: CollectorsOptions
    prometheus: PrometheusOptions
    otlp: OtlpOptions
    json_push: JsonPushOptions


# Builders from the data of `config_models` (secrets as plain strings); a missing key is a bug.


def _path(value: Any) -> Path | None:
    return None if value is None else Path(value)


def _log_format(value: Any) -> Literal["json", "text"]:
    if value == "json":
        return "json"
    if value == "text":
        return "text"
    raise ValueError(f"log_format: {value!r} is not 'json' or 'text'")


def _secret(value: Any) -> Secret | None:
    return None if value is None else Secret(str(value))


def collector_options(data: Mapping[str, Any]) -> CollectorOptions:
    return CollectorOptions(enabled=bool(data["enabled"]), interval=data["interval"])


def top_processes_options(data: Mapping[str, Any]) -> TopProcessesOptions:
    return TopProcessesOptions(
        enabled=bool(data["enabled"]), interval=data["interval"], top_n=int(data["top_n"])
    )


def _namespace(value: Any) -> Literal["auto", "pid1", "self"]:
    for known in ("auto", "pid1", "self"):
        if value == known:
            return known
    raise ValueError(f"collectors.network.namespace: {value!r} is not auto, pid1 or self")


def network_options(data: Mapping[str, Any]) -> NetworkOptions:
    return NetworkOptions(
        enabled=bool(data["enabled"]),
        interval=data["interval"],
        namespace=_namespace(data["namespace"]),
    )


# The collectors with settings of their own (see `exporter.config_models.OWN_SETTINGS`).
_OWN_OPTIONS: dict[str, Callable[[Mapping[str, Any]], CollectorOptions]] = {
    "processes": top_processes_options,
    "network": network_options,
}


def collectors_options(data: Mapping[str, Any]) -> CollectorsOptions:
    return {
        name: _OWN_OPTIONS.get(name, collector_options)(section) for name, section in data.items()
    }


def prometheus_options(data: Mapping[str, Any]) -> PrometheusOptions:
    web_config = data["web_config"]
    return PrometheusOptions(
        enabled=bool(data["enabled"]),
        listen=str(data["listen"]),
        web_config=None if web_config is None else web_config_from_data(web_config),
    )


def otlp_options(data: Mapping[str, Any]) -> OtlpOptions:
    return OtlpOptions(
        enabled=bool(data["enabled"]),
        protocol=str(data["protocol"]),
        endpoint=str(data["endpoint"]),
        headers={str(key): Secret(str(value)) for key, value in data["headers"].items()},
        interval=float(data["interval"]),
        timeout=float(data["timeout"]),
        ca_file=_path(data["ca_file"]),
        client_cert=_path(data["client_cert"]),
        client_key=_path(data["client_key"]),
    )


def json_push_options(data: Mapping[str, Any]) -> JsonPushOptions:
    return JsonPushOptions(
        enabled=bool(data["enabled"]),
        url=str(data["url"]),
        token=_secret(data["token"]),
        token_file=_path(data["token_file"]),
        timeout=float(data["timeout"]),
        buffer_capacity=int(data["buffer_capacity"]),
        max_batch=int(data["max_batch"]),
        backoff_initial=float(data["backoff_initial"]),
        backoff_max=float(data["backoff_max"]),
        spool_dir=_path(data["spool_dir"]),
        ca_file=_path(data["ca_file"]),
        client_cert=_path(data["client_cert"]),
        client_key=_path(data["client_key"]),
    )


def agent_options(data: Mapping[str, Any]) -> AgentOptions:
    return AgentOptions(
        interval=float(data["interval"]),
        host_name=data["host_name"],
        procfs=Path(data["procfs"]),
        log_format=_log_format(data["log_format"]),
        log_level=str(data["log_level"]),
        shutdown_deadline=float(data["shutdown_deadline"]),
        collectors=collectors_options(data["collectors"]),
        prometheus=prometheus_options(data["prometheus"]),
        otlp=otlp_options(data["otlp"]),
        json_push=json_push_options(data["json_push"]),
    )


def agent_options_from_json(payload: bytes) -> AgentOptions:
    """Options from `RuntimeConfig.handover_json()`; ValueError naming what is wrong."""
    try:
        data = orjson.loads(payload)
        return agent_options(data)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"handed-over config is not a complete agent config: {detail}") from exc
