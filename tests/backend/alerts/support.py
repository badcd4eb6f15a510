"""Helpers for alerting tests: agent reports with a chosen CPU idle share, an admin session,
and waiting for the evaluator to lead."""

from __future__ import annotations

import itertools
from typing import Any

from tests.backend.auth.support import make_user, session_for
from tests.backend.running import RunningBackend, iso, now_ms, wait_for

_SEQ = itertools.count(1)


def cpu_report(host: str, idle: float, time_ms: int | None = None) -> dict[str, Any]:
    """One agent report (schema v1) whose per-mode CPU utilization has this idle share."""
    at = time_ms if time_ms is not None else now_ms()
    return {
        "schema_version": 1,
        "agent": {"name": "hostpulse-exporter", "version": "0.1.0", "instance_id": f"{host}-i"},
        "reports": [
            {
                "seq": next(_SEQ),
                "timestamp": iso(at),
                "host": {"name": host, "id": f"{host}-id"},
                "metrics": [
                    {
                        "name": "system.cpu.utilization",
                        "unit": "1",
                        "type": "gauge",
                        "points": [
                            {"attributes": {"cpu.mode": "idle"}, "value": idle},
                            {"attributes": {"cpu.mode": "user"}, "value": 1 - idle},
                        ],
                    }
                ],
                "processes": [],
                "collectors": [{"name": "cpu", "duration_seconds": 0.001, "success": True}],
            }
        ],
    }


async def admin_headers(database_url: str, name: str = "alert-admin") -> dict[str, str]:
    user = await make_user(database_url, name, "admin")
    return {"Authorization": f"Bearer {await session_for(database_url, user)}"}


async def evaluator_leading(backend: RunningBackend) -> None:
    async def leading() -> bool:
        exposition = (await backend.client.get("/metrics")).text
        return "\nhostpulse_alert_evaluator_leading 1.0\n" in exposition

    await wait_for(leading, within=20, what="the alert evaluator to take the lease")
