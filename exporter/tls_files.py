"""TLS contexts from certificate files, for the agent's pushes (client) and its /metrics (server).

Each builder raises ValueError naming the setting and the file, so a wrong path, an unreadable
file or a key that does not match its certificate stops start-up with one clear line.
"""

from __future__ import annotations

import ssl
from pathlib import Path

_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc)


def _load_chain(context: ssl.SSLContext, setting: str, cert: Path, key: Path) -> None:
    for name, path in ((f"{setting} cert", cert), (f"{setting} key", key)):
        try:
            path.open("rb").close()
        except OSError as exc:
            raise ValueError(f"{name} {path}: cannot read: {_reason(exc)}") from exc
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ValueError(f"{setting}: key {key} does not belong to certificate {cert}") from exc
        raise ValueError(
            f"{setting}: {cert} / {key}: not a PEM certificate and its key ({_reason(exc)})"
        ) from exc


def _load_ca(context: ssl.SSLContext, setting: str, ca_file: Path) -> None:
    try:
        context.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"{setting} {ca_file}: not a readable PEM CA file ({_reason(exc)})"
        ) from exc


def client_context(
    setting: str, ca_file: Path | None, client_cert: Path | None, client_key: Path | None
) -> ssl.SSLContext:
    """Verifying context for an https:// push: `ca_file` alone when given (not the system CAs,
    nor SSL_CERT_FILE or REQUESTS_CA_BUNDLE), else the system's; plus a client certificate."""
    if (client_cert is None) != (client_key is None):
        raise ValueError(f"{setting}.client_cert and {setting}.client_key: set both or neither")
    if ca_file is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # checks hostnames, verifies: on
        _load_ca(context, f"{setting}.ca_file", ca_file)
    else:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if client_cert is not None and client_key is not None:
        _load_chain(context, f"{setting}.client_cert/client_key", client_cert, client_key)
    return context


def server_context(
    cert: Path,
    key: Path,
    client_ca: Path | None,
    client_auth_type: str,
    min_version: str,
    max_version: str | None,
) -> ssl.SSLContext:
    """The /metrics server's context from a validated `tls_server_config`."""
    setting = "web_config: tls_server_config"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[min_version]
    if max_version is not None:
        context.maximum_version = _VERSIONS[max_version]
    _load_chain(context, setting, cert, key)
    if client_ca is not None:
        _load_ca(context, f"{setting}.client_ca_file", client_ca)
    context.verify_mode = _CLIENT_AUTH[client_auth_type]
    return context
