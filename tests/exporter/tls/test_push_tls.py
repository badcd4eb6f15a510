"""The agent pushes over HTTPS to a real backend (uvicorn with TLS, PostgreSQL, Redis): JSON push
and OTLP/HTTP, verified against the configured CA, with a client certificate when required."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.agent_health import AgentHealth
from exporter.config import JsonPushConfig, OtlpConfig
from exporter.sinks.json_push import JsonPushSink, post_batch
from exporter.sinks.otlp import OtlpSink
from exporter.tls_files import client_context
from tests.backend.running import TOKEN, agent_report, service_settings
from tests.backend.tls_running import serve_tls, trusting
from tests.exporter.test_json_push import make_snapshot
from tests.tls_support import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def _host_names(base_url: str, pki: Pki, database_url: str) -> list[str]:
    from tests.backend.auth.support import ensure_session

    session = await ensure_session(database_url)
    async with httpx.AsyncClient(
        base_url=base_url, verify=trusting(pki.ca, pki.client_cert, pki.client_key)
    ) as client:
        client.cookies.set("hostpulse_session", session)
        response = await client.get("/api/hosts")
        assert response.status_code == 200, response.text
        return [host["name"] for host in response.json()["hosts"]]


async def _wait_for_host(base_url: str, pki: Pki, database_url: str, host: str) -> None:
    deadline = time.monotonic() + 30
    while host not in await _host_names(base_url, pki, database_url):
        if time.monotonic() > deadline:
            pytest.fail(f"{host} never reached the backend")
        await asyncio.sleep(0.1)


def _push(url: str, **tls: Any) -> JsonPushSink:
    config = JsonPushConfig.model_validate(
        {"enabled": True, "url": url, "token": TOKEN, "timeout": 5, "backoff_initial": 0.05, **tls}
    )
    return JsonPushSink(config.options(), health=AgentHealth(), agent_version="test")


async def test_json_push_over_https_with_the_ca_file_and_a_required_client_certificate(
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
        url = f"{base_url}/ingest/metrics"
        sink = _push(url, ca_file=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key)
        sink.start()
        try:
            sink.submit(make_snapshot())
            await _wait_for_host(base_url, pki, database_url, "test-host")
        finally:
            await asyncio.to_thread(sink.shutdown, 5.0)
        # Without the client certificate the backend ends the handshake: kept and retried,
        # with a reason that points at the certificate.
        body = b'{"schema_version":1}'
        outcome = await asyncio.to_thread(
            post_batch, url, TOKEN, body, 5.0, client_context("json_push", pki.ca, None, None)
        )
        assert outcome.kind == "retry"
        assert "client certificate (json_push.client_cert" in outcome.detail


async def test_a_backend_certificate_from_another_ca_is_refused_with_a_clear_reason(
    pki: Pki,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The environment's CA settings name the wrong CA: json_push.ca_file must win over them.
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.setenv(name, str(pki.other_ca))
    settings = service_settings(
        database_url, redis_url, redis_prefix, tls_cert=pki.server_cert, tls_key=pki.server_key
    )
    async with serve_tls(settings) as base_url:
        url = f"{base_url}/ingest/metrics"
        wrong = client_context("json_push", pki.other_ca, None, None)
        body = b'{"schema_version":1}'
        outcome = await asyncio.to_thread(post_batch, url, TOKEN, body, 5.0, wrong)
        assert outcome.kind == "retry"  # kept: the next certificate or CA may fix it
        assert "certificate is not trusted" in outcome.detail
        assert "json_push.ca_file" in outcome.detail
        # The system's CAs (no ca_file) do not know the test CA either: verification is on.
        default = client_context("json_push", None, None, None)
        outcome = await asyncio.to_thread(post_batch, url, TOKEN, body, 5.0, default)
        assert "certificate is not trusted" in outcome.detail
        # With the right CA the same request reaches the backend (and is judged on its body).
        right = client_context("json_push", pki.ca, None, None)
        report = __import__("orjson").dumps(agent_report("ca-ok"))
        outcome = await asyncio.to_thread(post_batch, url, TOKEN, report, 5.0, right)
        assert outcome.kind == "sent", outcome.detail


async def test_otlp_http_push_uses_the_ca_file_over_requests_ca_bundle(
    pki: Pki,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # requests lets REQUESTS_CA_BUNDLE override a session's CA file; the agent's ca_file must win.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca))
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
        config = OtlpConfig.model_validate(
            {
                "enabled": True,
                "protocol": "http/protobuf",
                "endpoint": base_url,
                "headers": {"Authorization": f"Bearer {TOKEN}"},
                "interval": 3600,
                "timeout": "5s",
                "ca_file": pki.ca,
                "client_cert": pki.client_cert,
                "client_key": pki.client_key,
            }
        )
        sink = OtlpSink(config.options(), host_name="otlp-tls", host_id="otlp-tls-id")
        sink.start()
        try:
            sink.submit(make_snapshot())
            assert await asyncio.to_thread(sink.flush, 10.0)
            await _wait_for_host(base_url, pki, database_url, "otlp-tls")
        finally:
            await asyncio.to_thread(sink.shutdown, 5.0)


def test_tls_files_apply_to_https_urls_only_and_must_load(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="apply to https:// only"):
        JsonPushConfig(url="http://127.0.0.1:8000/ingest/metrics", ca_file=pki.ca)
    with pytest.raises(ValueError, match="set both or neither"):
        JsonPushConfig(url="https://127.0.0.1/ingest/metrics", client_cert=pki.client_cert)
    with pytest.raises(ValueError, match="does not belong to certificate"):
        OtlpConfig(
            endpoint="https://127.0.0.1:4318",
            client_cert=pki.client_cert,
            client_key=pki.server_key,
        )
    with pytest.raises(ValueError, match="not a readable PEM CA file"):
        JsonPushConfig(url="https://127.0.0.1/ingest/metrics", ca_file=tmp_path / "nope.crt")
    with pytest.raises(ValueError, match="insecure: removed: the endpoint's scheme decides"):
        OtlpConfig.model_validate({"endpoint": "https://127.0.0.1:4318", "insecure": True})


def test_otlp_grpc_push_over_tls_with_the_ca_file_and_a_client_certificate(pki: Pki) -> None:
    """A real gRPC server (grpcio) with TLS that requires a client certificate of the CA."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc

    from tests.conftest import free_port
    from tests.exporter.otlp_receivers import _Inbox, _MetricsService

    inbox = _Inbox()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
        _MetricsService(inbox), server
    )
    port = free_port()
    credentials = grpc.ssl_server_credentials(
        [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
        root_certificates=pki.ca.read_bytes(),
        require_client_auth=True,
    )
    server.add_secure_port(f"127.0.0.1:{port}", credentials)
    server.start()
    try:
        config = OtlpConfig.model_validate(
            {
                "enabled": True,
                "protocol": "grpc",
                "endpoint": f"https://127.0.0.1:{port}",
                "interval": 3600,
                "timeout": 10,
                "ca_file": pki.ca,
                "client_cert": pki.client_cert,
                "client_key": pki.client_key,
            }
        )
        sink = OtlpSink(config.options(), host_name="grpc-tls", host_id="grpc-tls-id")
        sink.start()
        try:
            sink.submit(make_snapshot())
            assert sink.flush(10.0)
            inbox.wait_for(lambda items: len(items) >= 1, timeout=10)
        finally:
            sink.shutdown(5.0)
    finally:
        server.stop(grace=None).wait(timeout=10)
