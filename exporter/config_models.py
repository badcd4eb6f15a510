"""The agent's settings as pydantic models: the fields, their validation and their defaults.

`exporter.config` layers the sources (file, `HOSTPULSE_*` environment, flags) on top with
pydantic-settings. Components take the plain frozen dataclasses of `exporter.options` that
`.options()` returns, so the running agent never imports pydantic (see `exporter.runtime`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    create_model,
    field_validator,
    model_validator,
)

from conventions.settings_sources import Duration
from exporter import options as plain
from exporter.collectors.registry import COLLECTOR_NAMES


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


def _check_client_tls(self: OtlpConfig | JsonPushConfig, setting: str, url: str) -> None:
    """ca_file/client_cert/client_key only with https://, and the files must load."""
    files = (self.ca_file, self.client_cert, self.client_key)
    if all(path is None for path in files):
        return
    if urlsplit(url).scheme != "https":
        raise ValueError(
            f"ca_file, client_cert and client_key apply to https:// only, and {setting} is {url!r}"
        )
    from exporter.tls_files import client_context

    client_context(setting.partition(".")[0], self.ca_file, self.client_cert, self.client_key)


def _revealed(value: Any) -> Any:
    """Python-mode dump data with SecretStr as its plain value (nested)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _revealed(item) for key, item in value.items()}
    return value


def _path_text(value: Any) -> str:
    """orjson's fallback for the handed-over config: paths as text."""
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot hand over a {type(value).__name__}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def plain_data(self) -> dict[str, Any]:
        """The values with secrets revealed, for the `exporter.options` builders only."""
        data: dict[str, Any] = _revealed(self.model_dump(mode="python"))
        return data


class CollectorConfig(_Section):
    enabled: bool = True
    interval: Duration | None = None  # None: the agent-wide interval


class TopProcessesConfig(CollectorConfig):
    top_n: int = Field(default=5, ge=1, le=50)


class NetworkConfig(CollectorConfig):
    # Whose interfaces: `self` reads <procfs>/net/dev (this process's network namespace), `pid1`
    # reads <procfs>/1/net/dev (PID 1's: the node's when the node's /proc is mounted and its PID
    # namespace shared, as in the agent's DaemonSet), `auto` takes pid1 when that file is readable.
    namespace: Literal["auto", "pid1", "self"] = "auto"


# The collectors with settings of their own; every other registered collector has `enabled` and
# `interval` only (see `exporter.collectors.registry`).
OWN_SETTINGS: dict[str, type[CollectorConfig]] = {
    "processes": TopProcessesConfig,
    "network": NetworkConfig,
}

if TYPE_CHECKING:

    class CollectorsConfig(_Section):
        """A section per registered collector of `exporter.collectors.registry`."""

        processes: TopProcessesConfig = TopProcessesConfig()
        network: NetworkConfig = NetworkConfig()

        def __getattr__(self, name: str) -> CollectorConfig: ...

else:
    CollectorsConfig = create_model(
        "CollectorsConfig",
        __base__=_Section,
        **{
            name: (section, section())
            for name in COLLECTOR_NAMES
            for section in [OWN_SETTINGS.get(name, CollectorConfig)]
        },
    )


class PrometheusConfig(_Section):
    enabled: bool = True
    # Loopback by default: a cluster deployment sets 0.0.0.0:9860 so Prometheus can scrape it.
    listen: str = "127.0.0.1:9860"
    # An exporter-toolkit web config (`--web.config.file`): TLS and basic auth for /metrics.
    web_config_file: Path | None = None
    _web_config: Any = PrivateAttr(default=None)  # the file, validated (`WebConfig`)

    @model_validator(mode="after")
    def _load_web_config(self) -> Self:
        if self.web_config_file is None:
            self._web_config = None
            return self
        from exporter.tls_files import server_context
        from exporter.web_config import parse_web_config

        path = self.web_config_file
        try:
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"web_config_file {path}: cannot read: {exc.strerror or exc}") from exc
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            detail = " ".join(str(exc).split())
            raise ValueError(f"web_config_file {path}: not valid YAML: {detail}") from exc
        web_config = parse_web_config(data, path.resolve().parent)
        tls = web_config.tls
        if tls is not None:
            server_context(
                tls.cert_file,
                tls.key_file,
                tls.client_ca_file,
                tls.client_auth_type,
                tls.min_version,
                tls.max_version,
            )
        self._web_config = web_config
        return self

    def plain_data(self) -> dict[str, Any]:
        data = super().plain_data()
        data["web_config"] = None if self._web_config is None else self._web_config.to_data()
        return data

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not HOST:PORT (e.g. '127.0.0.1:9860')")
        return value

    def options(self) -> plain.PrometheusOptions:
        return plain.prometheus_options(self.plain_data())


# The gRPC exporter (and grpcio, ~17 MB) is the `exporter-grpc` extra; OTLP over HTTP needs nothing
# more than the `exporter` extra (the agent's container image has only that one).
GRPC_EXPORTER_MODULE = "opentelemetry.exporter.otlp.proto.grpc"


def grpc_exporter_installed() -> bool:
    try:
        return importlib.util.find_spec(GRPC_EXPORTER_MODULE) is not None
    except (ImportError, ValueError):  # ValueError: a parent blocked or half-imported
        return False


class OtlpConfig(_Section):
    enabled: bool = False
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    endpoint: str = "http://127.0.0.1:4317"
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    interval: Duration = 10.0
    timeout: Duration = 10.0
    # https:// endpoints: the CA file to trust (alone; default the system's CAs; it wins over
    # OTEL_EXPORTER_OTLP_CERTIFICATE and REQUESTS_CA_BUNDLE), and a client certificate for mTLS.
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    _endpoint = field_validator("endpoint")(_http_url)

    @model_validator(mode="before")
    @classmethod
    def _insecure_removed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "insecure" in data:
            raise ValueError(
                "insecure: removed: the endpoint's scheme decides (http:// plaintext, https:// "
                "TLS with the certificate verified against ca_file or the system's CAs); "
                "delete the setting"
            )
        return data

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        _check_client_tls(self, "otlp.endpoint", self.endpoint)
        return self

    @model_validator(mode="after")
    def _protocol_installed(self) -> Self:
        if self.enabled and self.protocol == "grpc" and not grpc_exporter_installed():
            raise ValueError(
                "protocol: 'grpc' needs the exporter-grpc extra "
                "(pip install 'hostpulse[exporter-grpc]'), which this install does not have; "
                "or use --otlp-protocol http/protobuf (port 4318)"
            )
        return self

    def options(self) -> plain.OtlpOptions:
        return plain.otlp_options(self.plain_data())


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
    # https:// URLs: the CA file to trust (alone; default the system's CAs), and a client
    # certificate and key when the backend requires one (tls_client_auth: required).
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    _url = field_validator("url")(_http_url)

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        _check_client_tls(self, "json_push.url", self.url)
        return self

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

    def options(self) -> plain.JsonPushOptions:
        return plain.json_push_options(self.plain_data())


class RuntimeConfig(_Section):
    """Every setting of the agent, validated; `exporter.config.AgentConfig` adds the sources."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

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

    def masked(self) -> dict[str, Any]:
        """The effective config as JSON-ready data; SecretStr fields dump as '**********'."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data

    def plain_data(self) -> dict[str, Any]:
        data = super().plain_data()
        data["prometheus"] = self.prometheus.plain_data()  # with its validated web config
        return data

    def options(self) -> plain.AgentOptions:
        return plain.agent_options(self.plain_data())

    def handover_json(self) -> bytes:
        """The config as JSON WITH its secrets, for `exporter.options.agent_options_from_json` only.

        Never log or print it: it holds the push token and the OTLP headers.
        """
        import orjson

        data = self.plain_data()
        # The token was read from token_file at validation; the runtime must not read it again.
        data["json_push"]["token_file"] = None
        data["procfs"] = str(self.procfs)
        if self.json_push.spool_dir is not None:
            data["json_push"]["spool_dir"] = str(self.json_push.spool_dir)
        return orjson.dumps(data, default=_path_text)
