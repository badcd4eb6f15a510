"""HTTPS and WSS: `--tls-cert`/`--tls-key`, client certificates, and clear start-up errors.

Real uvicorn with real TLS, PostgreSQL and Redis; certificates made by the test
(tests/tls_support.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from backend.settings import ConfigError, load_settings
from tests.backend.auth.support import ensure_session
from tests.backend.running import AUTH, agent_report, service_settings, wait_for
from tests.backend.tls_running import serve_tls, trusting
from tests.conftest import free_port
from tests.tls_support import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _settings(**values: Any) -> Any:
    return load_settings(None, {"database_url": "postgresql://x@127.0.0.1/db", **values})


def test_certificate_and_key_are_checked_when_the_settings_load(pki: Pki, tmp_path: Path) -> None:
    settings = _settings(tls_cert=pki.server_cert, tls_key=pki.server_key)
    assert settings.uvicorn_ssl_options()["ssl_cert_reqs"] == ssl.CERT_NONE
    with pytest.raises(ConfigError, match=r"tls_key: .*agent-1.key does not belong to the cert"):
        _settings(tls_cert=pki.server_cert, tls_key=pki.client_key)
    with pytest.raises(ConfigError, match=r"tls_key: required with tls_cert"):
        _settings(tls_cert=pki.server_cert)
    with pytest.raises(ConfigError, match=r"tls_cert: .*missing.crt: cannot read: No such file"):
        _settings(tls_cert=tmp_path / "missing.crt", tls_key=pki.server_key)
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"not a PEM certificate and its private key"):
        _settings(tls_cert=garbage, tls_key=pki.server_key)
    with pytest.raises(ConfigError, match=r"tls_client_ca: required with tls_client_auth: req"):
        _settings(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_auth="required")
    with pytest.raises(ConfigError, match=r"tls_client_auth: needs HTTPS"):
        _settings(tls_client_auth="optional", tls_client_ca=pki.ca)


def test_serve_with_a_mismatched_key_exits_2_naming_the_setting(pki: Pki) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "backend.cli", "serve"),
            *("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.client_key)),
        ],
        env={**os.environ, "DATABASE_URL": "postgresql://x@127.0.0.1/db"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "settings: tls_key:" in result.stderr
    assert "does not belong to the certificate" in result.stderr
    assert "Traceback" not in result.stderr


async def test_https_and_wss_serve_clients_that_trust_the_ca(
    pki: Pki, database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    settings = service_settings(
        database_url, redis_url, redis_prefix, tls_cert=pki.server_cert, tls_key=pki.server_key
    )
    async with serve_tls(settings) as base_url:
        async with httpx.AsyncClient(base_url=base_url, verify=trusting(pki.ca)) as client:
            assert (await client.get("/readyz")).status_code == 200
            report = agent_report("tls-1")
            response = await client.post("/ingest/metrics", json=report, headers=AUTH)
            assert response.status_code == 200, response.text
        # A client that does not trust the CA is refused during the handshake.
        async with httpx.AsyncClient(base_url=base_url, verify=trusting(pki.other_ca)) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get("/readyz")
        session = await ensure_session(database_url, name="tls-viewer", role="viewer")
        ws_url = base_url.replace("https://", "wss://") + "/ws"
        async with connect(
            ws_url,
            ssl=trusting(pki.ca),
            additional_headers={"Cookie": f"hostpulse_session={session}"},
        ) as ws:
            await ws.send('{"type":"subscribe","hosts":["tls-1"]}')
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            async with httpx.AsyncClient(base_url=base_url, verify=trusting(pki.ca)) as client:
                response = await client.post(
                    "/ingest/metrics", json=agent_report("tls-1", seq=2), headers=AUTH
                )
                assert response.status_code == 200, response.text
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (frame["type"], frame["host"]) == ("samples", "tls-1")


async def test_required_client_certificates_let_in_only_agents_signed_by_the_ca(
    pki: Pki, database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    settings = service_settings(
        database_url,
        redis_url,
        redis_prefix,
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        tls_client_auth="required",
        tls_client_ca=pki.ca,
    )
    async with serve_tls(settings) as base_url:
        with_cert = trusting(pki.ca, pki.client_cert, pki.client_key)
        async with httpx.AsyncClient(base_url=base_url, verify=with_cert) as client:
            response = await client.post("/ingest/metrics", json=agent_report("m-1"), headers=AUTH)
            assert response.status_code == 200, response.text
        for context in (
            trusting(pki.ca),  # no certificate
            trusting(pki.ca, pki.other_client_cert, pki.other_client_key),  # another CA's
        ):
            async with httpx.AsyncClient(base_url=base_url, verify=context) as client:
                refused = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)
                with pytest.raises(refused):
                    await client.post("/ingest/metrics", json=agent_report("m-2"), headers=AUTH)


async def test_hostpulse_backend_serve_with_tls_flags_serves_https(
    pki: Pki, database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    """The real command line: flags -> settings -> uvicorn's TLS arguments."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "backend.cli", "serve", "--port", str(port)),
        *("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)),
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "HOSTPULSE_REDIS_PREFIX": redis_prefix,
            "HOSTPULSE_LOG_LEVEL": "warning",
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = f"https://127.0.0.1:{port}/readyz"
        async with httpx.AsyncClient(verify=trusting(pki.ca), timeout=5) as client:

            async def ready() -> bool:
                if process.returncode is not None:
                    assert process.stderr is not None
                    pytest.fail((await process.stderr.read()).decode()[-2000:])
                try:
                    return (await client.get(url)).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(ready, within=60, what="the backend over HTTPS")
        async with httpx.AsyncClient(timeout=5) as plain:
            with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port
                await plain.get(f"http://127.0.0.1:{port}/readyz")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_optional_client_certificates_are_verified_when_sent(
    pki: Pki, database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    settings = service_settings(
        database_url,
        redis_url,
        redis_prefix,
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        tls_client_auth="optional",
        tls_client_ca=pki.ca,
    )
    async with serve_tls(settings) as base_url:
        for context in (trusting(pki.ca), trusting(pki.ca, pki.client_cert, pki.client_key)):
            async with httpx.AsyncClient(base_url=base_url, verify=context) as client:
                assert (await client.get("/readyz")).status_code == 200
        stranger = trusting(pki.ca, pki.other_client_cert, pki.other_client_key)
        async with httpx.AsyncClient(base_url=base_url, verify=stranger) as client:
            refused = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)
            with pytest.raises(refused):
                await client.get("/readyz")
