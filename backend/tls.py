"""HTTPS and WSS for `hostpulse-backend serve`: the certificate files checked, uvicorn's options.

The certificate and key are checked while the settings load, so a wrong path, an unreadable file
or a key that does not belong to the certificate stops start-up with one line naming the setting
instead of a traceback from inside uvicorn. How to make and rotate them: docs/tls.md.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

ClientAuth = Literal["none", "optional", "required"]

# none: no client certificate asked for; optional: asked for and verified against the CA when
# the client sends one; required: a connection without a certificate signed by the CA is refused.
CERT_REQS: dict[str, ssl.VerifyMode] = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}


def _readable(setting: str, path: Path) -> None:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ValueError(f"{setting}: {path}: cannot read: {exc.strerror or exc}") from exc


def check_tls_files(
    cert: Path | None, key: Path | None, client_auth: ClientAuth, client_ca: Path | None
) -> None:
    """ValueError naming the setting unless the files make a working server TLS setup."""
    if (cert is None) != (key is None):
        missing = "tls_key" if key is None else "tls_cert"
        raise ValueError(f"{missing}: required with {'tls_cert' if key is None else 'tls_key'}")
    if cert is None or key is None:
        if client_auth != "none" or client_ca is not None:
            raise ValueError("tls_client_auth: needs HTTPS (set tls_cert and tls_key)")
        return
    _readable("tls_cert", cert)
    _readable("tls_key", key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise ValueError(
                f"tls_key: {key} does not belong to the certificate in {cert}"
            ) from exc
        raise ValueError(
            f"tls_cert/tls_key: {cert}, {key}: not a PEM certificate and its private key "
            f"({exc.reason or exc})"
        ) from exc
    if client_auth != "none" and client_ca is None:
        raise ValueError(
            f"tls_client_ca: required with tls_client_auth: {client_auth} "
            "(the CA file that signed the agents' certificates)"
        )
    if client_ca is not None:
        _readable("tls_client_ca", client_ca)
        try:
            context.load_verify_locations(cafile=str(client_ca))
        except ssl.SSLError as exc:
            raise ValueError(
                f"tls_client_ca: {client_ca}: not a PEM CA certificate ({exc.reason or exc})"
            ) from exc


def uvicorn_ssl_options(
    cert: Path | None, key: Path | None, client_auth: ClientAuth, client_ca: Path | None
) -> dict[str, Any]:
    """The `uvicorn.run`/`uvicorn.Config` keyword arguments for HTTPS ({} for plain HTTP)."""
    if cert is None or key is None:
        return {}
    options: dict[str, Any] = {
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "ssl_cert_reqs": CERT_REQS[client_auth],
    }
    if client_ca is not None:
        options["ssl_ca_certs"] = str(client_ca)
    return options
