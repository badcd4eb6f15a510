"""`--web.config.file`: the Prometheus exporter-toolkit web config, validated into plain data.

The same file every Prometheus exporter takes (https://prometheus.io/docs/prometheus/latest/configuration/https/),
so a scrape config with `scheme: https`, `tls_config` and `basic_auth` works unchanged:

    tls_server_config:
      cert_file: server.crt            # relative paths: from the web config file's directory
      key_file: server.key
      client_ca_file: ca.crt           # optional: client certificates signed by this CA
      client_auth_type: RequireAndVerifyClientCert
      min_version: TLS12
    http_server_config:
      headers: {X-Frame-Options: deny}
    basic_auth_users:
      prometheus: $2y$10$...           # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\\n')

Pure: `parse_web_config` takes the loaded mapping and returns `WebConfig` or raises `WebConfigError`
naming the key. The CLI reads the YAML; the running agent gets the result as JSON (no YAML there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# exporter-toolkit's client_auth_type values that verify a certificate; the two that ask for one
# without verifying it (RequestClientCert, RequireAnyClientCert) are refused: no auth at all.
CLIENT_AUTH_TYPES = ("NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
_UNVERIFIED_AUTH = ("RequestClientCert", "RequireAnyClientCert")
TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
_BCRYPT = re.compile(r"^\$2[abxy]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")

_TLS_KEYS = {
    "cert_file",
    "key_file",
    "client_ca_file",
    "client_auth_type",
    "min_version",
    "max_version",
}
# Known to exporter-toolkit, not offered here: a clear refusal instead of "unknown key".
_TLS_UNSUPPORTED = {
    "cert",
    "key",
    "client_ca",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
}
_HTTP_KEYS = {"http2", "headers"}
_TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users"}


class WebConfigError(ValueError):
    """A problem in the web config file, phrased as `web_config: KEY: reason`."""


@dataclass(frozen=True, slots=True)
class TlsServerConfig:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None
    client_auth_type: str
    min_version: str
    max_version: str | None


@dataclass(frozen=True, slots=True)
class WebConfig:
    tls: TlsServerConfig | None
    basic_auth_users: Mapping[str, str] = field(repr=False)  # user -> bcrypt hash
    headers: Mapping[str, str]

    def to_data(self) -> dict[str, Any]:
        """JSON-ready data for the hand-over to the runtime (`web_config_from_data`)."""
        tls = self.tls
        return {
            "tls": None
            if tls is None
            else {
                "cert_file": str(tls.cert_file),
                "key_file": str(tls.key_file),
                "client_ca_file": None if tls.client_ca_file is None else str(tls.client_ca_file),
                "client_auth_type": tls.client_auth_type,
                "min_version": tls.min_version,
                "max_version": tls.max_version,
            },
            "basic_auth_users": dict(self.basic_auth_users),
            "headers": dict(self.headers),
        }


def web_config_from_data(data: Mapping[str, Any]) -> WebConfig:
    """The inverse of `WebConfig.to_data` (already validated data)."""
    tls = data["tls"]
    return WebConfig(
        tls=None
        if tls is None
        else TlsServerConfig(
            cert_file=Path(tls["cert_file"]),
            key_file=Path(tls["key_file"]),
            client_ca_file=None if tls["client_ca_file"] is None else Path(tls["client_ca_file"]),
            client_auth_type=str(tls["client_auth_type"]),
            min_version=str(tls["min_version"]),
            max_version=tls["max_version"],
        ),
        basic_auth_users={str(k): str(v) for k, v in data["basic_auth_users"].items()},
        headers={str(k): str(v) for k, v in data["headers"].items()},
    )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise WebConfigError(f"web_config: {where}: must be a mapping")
    return value


def _check_keys(data: Mapping[str, Any], known: set[str], where: str) -> None:
    for key in data:
        if key not in known:
            raise WebConfigError(
                f"web_config: {where}{key}: unknown key (known: {', '.join(sorted(known))})"
            )


def _path(value: Any, where: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise WebConfigError(f"web_config: {where}: must be a file path")
    path = Path(value)
    return path if path.is_absolute() else base / path


def _tls(data: Mapping[str, Any], base: Path) -> TlsServerConfig | None:
    for key in data:
        if key in _TLS_UNSUPPORTED:
            raise WebConfigError(
                f"web_config: tls_server_config.{key}: not supported by hostpulse-exporter "
                "(use cert_file, key_file, client_ca_file, client_auth_type, min_version)"
            )
    _check_keys(data, _TLS_KEYS, "tls_server_config.")
    if not data:
        return None
    if "cert_file" not in data or "key_file" not in data:
        missing = "cert_file" if "cert_file" not in data else "key_file"
        raise WebConfigError(f"web_config: tls_server_config.{missing}: required")
    cert = _path(data["cert_file"], "tls_server_config.cert_file", base)
    key_path = _path(data["key_file"], "tls_server_config.key_file", base)
    ca = (
        None
        if data.get("client_ca_file") is None
        else _path(data["client_ca_file"], "tls_server_config.client_ca_file", base)
    )
    auth = data.get("client_auth_type")
    if auth is None or auth == "":
        # exporter-toolkit's default: a CA file alone means clients must present a certificate.
        auth = "RequireAndVerifyClientCert" if ca is not None else "NoClientCert"
    if auth in _UNVERIFIED_AUTH:
        raise WebConfigError(
            f"web_config: tls_server_config.client_auth_type: {auth} does not verify the "
            "certificate and is not supported; use VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert with client_ca_file"
        )
    if auth not in CLIENT_AUTH_TYPES:
        raise WebConfigError(
            f"web_config: tls_server_config.client_auth_type: {auth!r} is not one of "
            + ", ".join(CLIENT_AUTH_TYPES)
        )
    if auth != "NoClientCert" and ca is None:
        raise WebConfigError(
            f"web_config: tls_server_config.client_ca_file: required with client_auth_type {auth}"
        )
    versions = []
    for name, default in (("min_version", "TLS12"), ("max_version", None)):
        version = data.get(name, default)
        if version is not None and version not in TLS_VERSIONS:
            raise WebConfigError(
                f"web_config: tls_server_config.{name}: {version!r} is not one of "
                + ", ".join(TLS_VERSIONS)
            )
        versions.append(version)
    min_version, max_version = versions
    if max_version is not None and TLS_VERSIONS.index(max_version) < TLS_VERSIONS.index(
        str(min_version)
    ):
        raise WebConfigError("web_config: tls_server_config.max_version: below min_version")
    return TlsServerConfig(cert, key_path, ca, str(auth), str(min_version), max_version)


def _users(data: Mapping[str, Any]) -> dict[str, str]:
    users: dict[str, str] = {}
    for user, hashed in data.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise WebConfigError(
                f"web_config: basic_auth_users: {user!r}: a user name must be a non-empty "
                "string without ':'"
            )
        if not isinstance(hashed, str) or not _BCRYPT.match(hashed):
            raise WebConfigError(
                f"web_config: basic_auth_users.{user}: not a bcrypt hash (expected '$2y$10$' "
                "and 53 characters; make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')"
            )
        users[user] = hashed
    return users


def parse_web_config(data: Any, base: Path) -> WebConfig:
    """Validate the loaded YAML of a web config file; relative paths are taken from `base`."""
    top = _mapping(data, "(top level)")
    _check_keys(top, _TOP_KEYS, "")
    http = _mapping(top.get("http_server_config"), "http_server_config")
    _check_keys(http, _HTTP_KEYS, "http_server_config.")
    if "http2" in http and not isinstance(http["http2"], bool):
        raise WebConfigError("web_config: http_server_config.http2: must be true or false")
    headers = _mapping(http.get("headers"), "http_server_config.headers")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise WebConfigError(f"web_config: http_server_config.headers.{name}: must be a string")
        if "\n" in value or "\r" in value or not name.strip():
            raise WebConfigError(f"web_config: http_server_config.headers.{name}: not a header")
    return WebConfig(
        tls=_tls(_mapping(top.get("tls_server_config"), "tls_server_config"), base),
        basic_auth_users=_users(_mapping(top.get("basic_auth_users"), "basic_auth_users")),
        headers=dict(headers),
    )
