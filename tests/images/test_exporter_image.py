"""The agent's image run for real with podman (read-only root, its non-root user), reading the
host's /proc mounted at /host/proc as the DaemonSet mounts it.

The JSON push goes to a small recording HTTP server in the test (a stand-in for the backend, which
test_backend_image.py runs for real): it only keeps what the agent sends, to read the node name.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.images.fixtures import IMAGE_TEST_TIMEOUT
from tests.images.podman import PodmanError, run_container
from tests.images.support import (
    IMAGE_UID,
    busy_process,
    host_pid,
    process_ids,
    scrape,
    unique,
    wait_for_metric_line,
    write_attempt,
)

pytestmark = [pytest.mark.images, pytest.mark.timeout(IMAGE_TEST_TIMEOUT)]

TOKEN = "hp_image-test-agent-token"
INTERFACE = r'^system_network_io_bytes_total\{network_interface_name="([^"]+)"'


class Recorder(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]]:
    received: list[tuple[dict[str, str], dict[str, Any]]] = []
    handler = type("Handler", (Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/ingest/metrics", received
    finally:
        server.shutdown()
        server.server_close()


def test_agent_container_reports_the_hosts_cpus_a_host_process_and_the_node_name(
    podman_env: dict[str, str],
    hostpulse_images: dict[str, str],
    tmp_path: Path,
    recorder: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]],
) -> None:
    push_url, received = recorder
    token_file = tmp_path / "agent-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    port = free_port()
    node = unique("node")
    process_name = unique("hpimg")[:15]  # the kernel keeps 15 characters of a command name
    environment = {
        # What the DaemonSet sets: the node's name from spec.nodeName, never the pod's.
        "HOSTPULSE_HOST_NAME": node,
        "HOSTPULSE_INTERVAL": "1s",
        "HOSTPULSE_PROMETHEUS__LISTEN": f"127.0.0.1:{port}",
        "HOSTPULSE_COLLECTORS__PROCESSES__TOP_N": "50",
        "HOSTPULSE_JSON_PUSH__ENABLED": "true",
        "HOSTPULSE_JSON_PUSH__URL": push_url,
        "HOSTPULSE_JSON_PUSH__TOKEN_FILE": "/run/secrets/hostpulse/agent-token",
    }
    options = [
        "--volume",
        "/proc:/host/proc:ro",
        "--volume",
        f"{token_file}:/run/secrets/hostpulse/agent-token:ro",
        # A container hostname unlike the node's: the reports must not carry it.
        "--hostname",
        "pod-hostpulse-agent-x7k2p",
    ]
    with (
        busy_process(tmp_path, process_name) as process,
        run_container(
            podman_env,
            hostpulse_images["exporter"],
            name=unique("hp-agent"),
            environment=environment,
            options=options,
        ) as agent,
    ):
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        agent.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)
        cpus = wait_for_metric_line(agent, metrics_url, {"name": "system_cpu_logical_cpus "})
        assert float(cpus.split()[-1]) == os.cpu_count()
        # A process of the host (the test's own), seen through /host/proc.
        line = wait_for_metric_line(
            agent,
            metrics_url,
            {
                "name": "process_cpu_utilization_ratio{",
                "comm": f'process_executable_name="{process_name}"',
                "pid": f'process_pid="{process.pid}"',
            },
        )
        assert float(line.split()[-1]) > 0
        # Every process of the host is counted, not just the container's one.
        states = re.findall(r"^system_processes\{[^}]*\} (\S+)$", scrape(metrics_url), re.M)
        assert sum(float(v) for v in states) > 10

        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline:
            time.sleep(0.5)
        assert received, f"no JSON push within 60 s; logs:\n{agent.logs()[-3000:]}"
        headers, document = received[0]
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert {report["host"]["name"] for report in document["reports"]} == {node}

        # Its non-root user, with nothing writable but /tmp.
        uids, gids = process_ids(host_pid(agent))
        assert uids == {IMAGE_UID}
        assert gids == {IMAGE_UID}
        assert "Read-only file system" in write_attempt(agent, "/opt/hostpulse/probe")
        assert write_attempt(agent, "/tmp/probe") == ""
        # As PID 1 it gets no default signal handling: it must handle the image's STOPSIGNAL.
        assert agent.stop() == 0, agent.logs()[-3000:]


def test_agent_in_its_own_network_namespace_reports_the_nodes_interfaces(
    podman_env: dict[str, str], hostpulse_images: dict[str, str]
) -> None:
    """Without host networking the container sees only `lo`; with the node's /proc at /host/proc
    the agent reads PID 1's network namespace (`collectors.network.namespace: auto`) instead."""
    node_interfaces = {
        line.split(":")[0].strip() for line in Path("/proc/1/net/dev").read_text().splitlines()[2:]
    }
    assert node_interfaces - {"lo"}, "this test needs a node with an interface besides lo"
    fetch = (
        "import urllib.request; print(urllib.request.urlopen("
        "'http://127.0.0.1:9860/metrics', timeout=10).read().decode())"
    )
    with run_container(
        podman_env,
        hostpulse_images["exporter"],
        name=unique("hp-agent-netns"),
        environment={"HOSTPULSE_INTERVAL": "1s", "HOSTPULSE_PROMETHEUS__LISTEN": "127.0.0.1:9860"},
        network="none",
        options=["--volume", "/proc:/host/proc:ro"],
    ) as agent:
        own = {
            line.split(":")[0].strip()
            for line in agent.exec("cat", "/proc/self/net/dev").splitlines()[2:]
        }
        assert own == {"lo"}
        deadline = time.monotonic() + 90
        seen: set[str] = set()
        while time.monotonic() < deadline and seen != node_interfaces:
            with contextlib.suppress(PodmanError):  # not listening yet
                text = agent.exec("python3", "-c", fetch)
                seen = set(re.findall(INTERFACE, text, re.MULTILINE))
            time.sleep(1)
        assert seen == node_interfaces, agent.logs()[-3000:]
