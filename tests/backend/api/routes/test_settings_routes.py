"""The read-only settings an admin can see (they come from the config file and environment)."""

from __future__ import annotations

from typing import Any

from tests.backend.running import serve, service_settings


async def test_admins_see_the_effective_retention(
    database_url: str, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    settings = service_settings(
        database_url, redis_url, redis_prefix, retention={"raw_samples": "3d", "interval": "30m"}
    )
    async with serve(settings) as backend:
        response = await backend.client.get("/api/settings/retention")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["raw_samples"] == "3d"
    assert body["rollup_1m"] == "30d"
    assert body["rollup_1h"] == "365d"
    assert body["alert_history"] == "90d"
    assert body["interval"] == "30m"
    assert "HOSTPULSE_RETENTION__" in body["source"]
