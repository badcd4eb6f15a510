"""Agent tokens: create/list/revoke against the real table, and 401s on every ingest path."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from backend.auth import agent_tokens
from backend.auth.agent_tokens import AgentTokenVerifier
from tests.backend.ingest.ingest_support import BOOTSTRAP_TOKEN, IngestHarness, error_message

PATHS = ("/ingest/metrics", "/v1/metrics", "/api/v1/write")


async def test_create_list_revoke(harness: IngestHarness) -> None:
    token_id, token = await agent_tokens.create_token(harness.pool, "rack 7")
    assert token.startswith("hp_")
    assert len(token) > 40
    listed = {info.id: info for info in await agent_tokens.list_tokens(harness.pool)}
    assert listed[token_id].name == "rack 7"
    assert listed[token_id].revoked_at is None
    assert token not in repr(listed)  # neither the secret nor its hash is ever listed
    assert await agent_tokens.revoke_token(harness.pool, token_id) is True
    assert await agent_tokens.revoke_token(harness.pool, token_id) is False  # already revoked
    assert await agent_tokens.revoke_token(harness.pool, 999_999) is False
    listed = {info.id: info for info in await agent_tokens.list_tokens(harness.pool)}
    assert listed[token_id].revoked_at is not None


async def test_only_the_hash_is_stored(harness: IngestHarness) -> None:
    _, token = await agent_tokens.create_token(harness.pool, "hashed")
    stored = await harness.pool.fetch("SELECT token_hash::text AS h, name FROM agent_tokens")
    assert all(token not in row["h"] for row in stored)


async def test_create_refuses_an_empty_name(harness: IngestHarness) -> None:
    with pytest.raises(ValueError, match="name"):
        await agent_tokens.create_token(harness.pool, "  ")


async def test_missing_or_invalid_token_is_401_with_bearer_challenge(
    harness: IngestHarness,
) -> None:
    for path in PATHS:
        for authorization in [None, "Bearer hp_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer "]:
            headers = {"Authorization": authorization} if authorization else {}
            response = await harness.client.post(path, content=b"{}", headers=headers)
            assert response.status_code == 401, (path, authorization)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert (
                "token" in error_message(response).lower()
                or "authorization" in error_message(response).lower()
            )
    assert harness.pipeline.batches == []


async def test_bootstrap_token_is_accepted(harness: IngestHarness) -> None:
    response = await harness.client.post(
        "/ingest/metrics", content=b"{", headers=harness.auth(BOOTSTRAP_TOKEN)
    )
    assert response.status_code == 400  # authenticated; the body is what's wrong


async def test_revoked_token_is_refused_within_the_cache_period(harness: IngestHarness) -> None:
    # The app's verifier with a short cache, so the test needn't wait the default 5 s.
    services = harness.app.state.services
    verifier = AgentTokenVerifier(harness.pool, cache_seconds=0.5)
    harness.app.state.services = dataclasses.replace(services, agent_tokens=verifier)
    token_id, token = await agent_tokens.create_token(harness.pool, "soon revoked")
    ok = await harness.client.post("/ingest/metrics", content=b"{", headers=harness.auth(token))
    assert ok.status_code == 400
    await agent_tokens.revoke_token(harness.pool, token_id)
    deadline = time.monotonic() + 10
    status = ok.status_code
    while status != 401 and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        response = await harness.client.post(
            "/ingest/metrics", content=b"{", headers=harness.auth(token)
        )
        status = response.status_code
    assert status == 401


async def test_verifier_records_last_use_and_caches(harness: IngestHarness) -> None:
    token_id, token = await agent_tokens.create_token(harness.pool, "used")
    verifier = AgentTokenVerifier(harness.pool, None, cache_seconds=60)
    assert await verifier.verify(token) == token_id
    await agent_tokens.revoke_token(harness.pool, token_id)
    assert await verifier.verify(token) == token_id  # cached verdict, by design
    [info] = [i for i in await agent_tokens.list_tokens(harness.pool) if i.id == token_id]
    assert info.last_used_at is not None
    assert await AgentTokenVerifier(harness.pool).verify(token) is None
