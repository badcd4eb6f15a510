"""One HTTP attempt per delivery: a signed webhook POST or an Alertmanager v2 POST."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from backend.notify.outbox import Delivery, Outcome

SIGNATURE_HEADER = "X-HostPulse-Signature"
_MAX_ERROR_CHARS = 500


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact body bytes, as GitHub-style receivers check it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def request_for(delivery: Delivery) -> tuple[str, dict[str, str]]:
    headers = {"Content-Type": "application/json", "User-Agent": "HostPulse-backend"}
    if delivery.target_kind == "alertmanager":
        return delivery.target_url + "/api/v2/alerts", headers
    if delivery.secret:
        headers[SIGNATURE_HEADER] = signature(delivery.secret, delivery.body)
    return delivery.target_url, headers


async def attempt(client: httpx.AsyncClient, delivery: Delivery) -> Outcome:
    url, headers = request_for(delivery)
    started = time.perf_counter()
    try:
        response = await client.post(url, content=delivery.body, headers=headers)
    except httpx.HTTPError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
        return Outcome(ok=False, status_code=None, error=error, duration_ms=elapsed)
    elapsed = (time.perf_counter() - started) * 1000
    if response.is_success:
        return Outcome(ok=True, status_code=response.status_code, error=None, duration_ms=elapsed)
    error = f"HTTP {response.status_code}: {response.text[:200]}"
    return Outcome(ok=False, status_code=response.status_code, error=error, duration_ms=elapsed)
