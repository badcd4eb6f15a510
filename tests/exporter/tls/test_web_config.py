"""`--web.config.file` (the exporter-toolkit format): validation, and /metrics over real TLS
sockets with basic auth, client certificates and certificate renewal (tests/tls_support.py)."""

from __future__ import annotations

import base64
import logging
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from exporter.config import PrometheusConfig
from exporter.sinks.prometheus import PrometheusSink
from exporter.web_config import WebConfigError, parse_web_config
from tests.conftest import free_port
from tests.exporter.test_json_push import make_snapshot
from tests.tls_support import Pki, make_pki

PASSWORD = "scrape-secret"
# Cost 4: the lowest bcrypt allows, so tests stay quick; users' files use 10 or more.
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def web_config(pki: Pki, **tls: Any) -> dict[str, Any]:
    return {
        "tls_server_config": {
            "cert_file": str(pki.server_cert),
            "key_file": str(pki.server_key),
            **tls,
        },
        "basic_auth_users": {"prometheus": HASH},
    }


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tls_server_config": {"cert_file": "a"}}, r"tls_server_config.key_file: required"),
        ({"tls_config": {}}, r"web_config: tls_config: unknown key"),
        (
            {"tls_server_config": {"cert_file": "a", "key_file": "b", "certfile": "c"}},
            r"tls_server_config.certfile: unknown key",
        ),
        (
            {"tls_server_config": {"cert_file": "a", "key_file": "b", "cipher_suites": []}},
            r"cipher_suites: not supported by hostpulse-exporter",
        ),
        ({"basic_auth_users": {"p": "plain-text"}}, r"basic_auth_users.p: not a bcrypt hash"),
        ({"basic_auth_users": {"p": "$2y$10$short"}}, r"basic_auth_users.p: not a bcrypt hash"),
        (
            {"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_type": "x"}},
            r"client_auth_type: 'x' is not one of NoClientCert",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "a",
                    "key_file": "b",
                    "client_auth_type": "RequireAnyClientCert",
                }
            },
            r"RequireAnyClientCert does not verify the certificate",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "a",
                    "key_file": "b",
                    "client_auth_type": "RequireAndVerifyClientCert",
                }
            },
            r"client_ca_file: required with client_auth_type RequireAndVerifyClientCert",
        ),
        (
            {"tls_server_config": {"cert_file": "a", "key_file": "b", "min_version": "TLS14"}},
            r"min_version: 'TLS14' is not one of",
        ),
        ({"http_server_config": {"http3": True}}, r"http_server_config.http3: unknown key"),
        (["a"], r"\(top level\): must be a mapping"),
    ],
)
def test_invalid_web_configs_are_named(data: Any, message: str) -> None:
    with pytest.raises(WebConfigError, match=message):
        parse_web_config(data, Path("/etc/hostpulse"))


def test_relative_paths_are_from_the_file_and_a_ca_alone_requires_client_certificates() -> None:
    parsed = parse_web_config(
        {
            "tls_server_config": {
                "cert_file": "s.crt",
                "key_file": "/k/s.key",
                "client_ca_file": "ca",
            },
            "basic_auth_users": {"prometheus": HASH},
            "http_server_config": {"http2": True, "headers": {"X-Frame-Options": "deny"}},
        },
        Path("/etc/hostpulse"),
    )
    assert parsed.tls is not None
    assert parsed.tls.cert_file == Path("/etc/hostpulse/s.crt")
    assert parsed.tls.key_file == Path("/k/s.key")
    assert parsed.tls.client_ca_file == Path("/etc/hostpulse/ca")
    assert parsed.tls.client_auth_type == "RequireAndVerifyClientCert"  # exporter-toolkit's rule
    assert parsed.tls.min_version == "TLS12"
    assert parsed.headers == {"X-Frame-Options": "deny"}


def test_the_cli_refuses_a_bad_web_config_with_one_line(tmp_path: Path, pki: Pki) -> None:
    bad = _write(tmp_path / "web.yml", {"basic_auth_users": {"prometheus": "hunter2"}})
    mismatched = _write(
        tmp_path / "web2.yml",
        {"tls_server_config": {"cert_file": str(pki.server_cert), "key_file": str(pki.client_key)}},
    )
    for path, expected in (
        (bad, "config: prometheus: web_config: basic_auth_users.prometheus: not a bcrypt hash"),
        (mismatched, "does not belong to certificate"),
        (tmp_path / "missing.yml", "web_config_file " + str(tmp_path / "missing.yml")),
    ):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "exporter.cli",
                "--web.config.file",
                str(path),
                "--print-config",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# --- /metrics over TLS ------------------------------------------------------------------------


class Served:
    def __init__(self, port: int) -> None:
        self.url = f"https://127.0.0.1:{port}/metrics"
        self.port = port

    def get(
        self, context: ssl.SSLContext, user: str | None = "prometheus", password: str = PASSWORD
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {}
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(self.url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, dict(exc.headers), exc.read()


def _client(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    sinks: list[PrometheusSink] = []

    def start(data: dict[str, Any]) -> Served:
        path = _write(tmp_path / f"web-{len(sinks)}.yml", data)
        port = free_port()
        config = PrometheusConfig(listen=f"127.0.0.1:{port}", web_config_file=path)
        sink = PrometheusSink(config.options())
        sink.submit(make_snapshot())
        sink.start()
        sinks.append(sink)
        return Served(port)

    yield start
    for sink in sinks:
        sink.shutdown(5.0)


def test_https_with_basic_auth(pki: Pki, serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    served = serve(web_config(pki))
    status, _, body = served.get(_client(pki))
    assert status == 200
    assert b"system_cpu_utilization_ratio" in body
    status, headers, _ = served.get(_client(pki), password="wrong")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic ")
    assert served.get(_client(pki), user=None)[0] == 401
    assert served.get(_client(pki), user="nobody")[0] == 401
    with caplog.at_level(logging.WARNING):
        assert served.get(_client(pki), password="x" * 73)[0] == 401
    assert "longer than bcrypt's 72 bytes" in caplog.text
    # A client that does not trust the CA, and plain HTTP, get no metrics.
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        served.get(ssl.create_default_context(cafile=str(pki.other_ca)))
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{served.port}/metrics", timeout=10)


def test_a_successful_bcrypt_check_is_remembered(
    pki: Pki, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    served = serve(web_config(pki))
    for _ in range(3):
        assert served.get(_client(pki))[0] == 200
    assert len(calls) == 1
    for _ in range(2):  # failures are not remembered: each costs a check
        assert served.get(_client(pki), password="wrong")[0] == 401
    assert len(calls) == 3


def test_required_client_certificates(pki: Pki, serve: Any) -> None:
    served = serve(web_config(pki, client_ca_file=str(pki.ca)))
    assert served.get(_client(pki, pki.client_cert, pki.client_key))[0] == 200
    for context in (
        _client(pki),
        _client(pki, pki.other_client_cert, pki.other_client_key),
    ):
        with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
            served.get(context)


def _served_serial(port: int, ca: Path) -> int:
    """The serial number of the certificate the server presents to a client trusting `ca`."""
    from cryptography import x509

    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        context = ssl.create_default_context(cafile=str(ca))
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _serial_of(cert: Path) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificate(cert.read_bytes()).serial_number


def test_a_renewed_certificate_is_served_without_a_restart(
    pki: Pki, serve: Any, tmp_path: Path
) -> None:
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    served = serve({"tls_server_config": {"cert_file": str(cert), "key_file": str(key)}})
    assert _served_serial(served.port, pki.ca) == _serial_of(pki.server_cert)
    renewed = make_pki(tmp_path / "renewed")
    # Half a renewal (the new certificate, the old key) does not load: the old pair stays.
    shutil.copy(renewed.server_cert, cert)
    time.sleep(1.5)
    assert _served_serial(served.port, pki.ca) == _serial_of(pki.server_cert)
    shutil.copy(renewed.server_key, key)
    deadline = time.monotonic() + 15
    while True:
        try:
            serial = _served_serial(served.port, renewed.ca)
            break
        except ssl.SSLCertVerificationError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    assert serial == _serial_of(renewed.server_cert)
