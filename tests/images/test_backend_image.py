"""The backend's image run for real with podman against the machine's PostgreSQL and Redis (a
database and key prefix of the test's own): `migrate` then `serve`, read-only root, its non-root
user; data flows exporter container -> backend container -> a WebSocket client (this test)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.backend.auth.support import ensure_session
from tests.conftest import free_port
from tests.images.fixtures import IMAGE_TEST_TIMEOUT
from tests.images.podman import Container, podman, run_container
from tests.images.support import IMAGE_UID, host_pid, process_ids, unique, write_attempt

pytestmark = [pytest.mark.images, pytest.mark.timeout(IMAGE_TEST_TIMEOUT)]

TOKEN = "hp_image-test-bootstrap-token"


@contextlib.contextmanager
def backend_container(
    podman_env: dict[str, str],
    image: str,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    extra: dict[str, str] | None = None,
) -> Iterator[tuple[Container, str]]:
    """`migrate` (a one-off container, as the Deployment's init container runs it) then `serve`
    on a free loopback port; (the container, its base URL) once /readyz answers."""
    environment = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HOSTPULSE_REDIS_PREFIX": redis_prefix,
        "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": TOKEN,
        **(extra or {}),
    }
    flags = [f"--env={key}={value}" for key, value in environment.items()]
    podman(
        podman_env,
        *("run", "--rm", "--network", "host", "--pull=never", "--read-only", *flags),
        *(image, "migrate"),
        timeout=300,
    )
    port = free_port()
    environment |= {"HOSTPULSE_HOST": "127.0.0.1", "HOSTPULSE_PORT": str(port)}
    with run_container(
        podman_env, image, name=unique("hp-backend"), environment=environment
    ) as backend:
        url = f"http://127.0.0.1:{port}"
        backend.wait_http(f"{url}/readyz", timeout=120)
        yield backend, url


def healthcheck(container: Container) -> int:
    """`podman healthcheck run`: the image's HEALTHCHECK, executed in the container (0 healthy)."""
    done = subprocess.run(
        ["podman", "healthcheck", "run", container.name],
        env=dict(container.env),
        capture_output=True,
        check=False,
        timeout=60,
    )
    return done.returncode


async def test_agent_samples_reach_a_websocket_client_through_the_backend_container(
    podman_env: dict[str, str],
    hostpulse_images: dict[str, str],
    empty_database_url: str,
    redis_url: str,
    redis_prefix: str,
    sync_cleanup_redis: None,
    tmp_path: Path,
) -> None:
    node = unique("node")
    token_file = tmp_path / "agent-token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o644)
    with backend_container(
        podman_env, hostpulse_images["backend"], empty_database_url, redis_url, redis_prefix
    ) as (backend, url):
        assert healthcheck(backend) == 0
        uids, gids = process_ids(host_pid(backend))
        assert (uids, gids) == ({IMAGE_UID}, {IMAGE_UID})
        assert "Read-only file system" in write_attempt(backend, "/opt/hostpulse/probe")

        session = await ensure_session(empty_database_url, name="image-viewer", role="viewer")
        cookie = {"Cookie": f"hostpulse_session={session}"}
        async with connect(
            url.replace("http://", "ws://") + "/ws", additional_headers=cookie
        ) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "hosts": [node]}).decode())
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
            assert reply["type"] == "subscribed"
            agent_env = {
                "HOSTPULSE_HOST_NAME": node,
                "HOSTPULSE_INTERVAL": "1s",
                "HOSTPULSE_PROMETHEUS__ENABLED": "false",
                "HOSTPULSE_JSON_PUSH__ENABLED": "true",
                "HOSTPULSE_JSON_PUSH__URL": f"{url}/ingest/metrics",
                "HOSTPULSE_JSON_PUSH__TOKEN_FILE": "/run/secrets/hostpulse/agent-token",
            }
            options = [
                *("--volume", "/proc:/host/proc:ro"),
                *("--volume", f"{token_file}:/run/secrets/hostpulse/agent-token:ro"),
            ]
            with run_container(
                podman_env,
                hostpulse_images["exporter"],
                name=unique("hp-agent"),
                environment=agent_env,
                options=options,
            ) as agent:
                frame = await first_samples(ws, agent, backend, seconds=90)
        assert frame["host"] == node
        names = {sample["name"] for sample in frame["samples"]}
        assert any(name.startswith(("system.cpu", "system_cpu")) for name in names), names
        assert frame["processes"]["processes"], "the agent's top processes (of the host)"

        async with httpx.AsyncClient(base_url=url, timeout=10, headers=cookie) as client:
            hosts = (await client.get("/api/hosts")).json()["hosts"]
        assert node in [host["name"] for host in hosts]
        # As PID 1 it gets no default signal handling: it must handle the image's STOPSIGNAL.
        assert backend.stop() == 0, backend.logs()[-3000:]


async def first_samples(ws: Any, agent: Container, backend: Container, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 2))
            if message.get("type") == "samples":
                return message
    raise AssertionError(
        f"no samples frame within {seconds:.0f} s\nagent logs:\n{agent.logs()[-3000:]}\n"
        f"backend logs:\n{backend.logs()[-3000:]}"
    )
