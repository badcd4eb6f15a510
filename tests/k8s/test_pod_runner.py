"""The rendered minikube overlay drives a real run: tests/k8s/pod_runner.py starts the backend
(its `migrate` init container first), dashboard and agent pods with podman exactly as the manifests
say, and their startup, readiness and liveness probes pass; the agent's report reaches the backend
through the Service name and with the node's name. A wrong probe path, port, command or env var
name fails.

No kubelet or API server can run here: the harness plays the kubelet (see its docstring). The
PostgreSQL and Redis StatefulSets' official images cannot be pulled (no registry), so the
machine's PostgreSQL and Redis stand in for them behind the `postgres` and `redis` Service names,
and their exec probes (`pg_isready`, `redis-cli ping`) run here against those servers instead.
The backend gets its own database and Redis key prefix (the only settings rewritten, so runs never
see each other's data); everything else is the rendered ConfigMaps and the test's random Secrets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import subprocess
import time
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
import redis

from tests.conftest import ADMIN_DSN, REDIS_URL, require_program
from tests.images.fixtures import IMAGE_TEST_TIMEOUT
from tests.images.podman import project_version
from tests.k8s import pod_runner
from tests.k8s.pod_runner import HarnessError, Manifest, PodPlan, ProbeResult
from tests.k8s.rendering import find

# The first test also builds the images (tests/images/fixtures.py, registered in tests/conftest.py).
pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.timeout(IMAGE_TEST_TIMEOUT)]

NODE_NAME = "harness-node"
# Services whose pods the harness runs on its node (so they resolve to the node's loopback).
SERVICES_ON_NODE = ("backend", "dashboard", "hostpulse-agent")


@pytest.fixture(scope="module")
def require_slirp4netns() -> None:
    require_program("slirp4netns")


@contextlib.contextmanager
def _database() -> Iterator[tuple[str, str]]:
    """(role, database) of the machine's PostgreSQL for backend pods: a superuser role, as the
    official image's POSTGRES_USER is, and its own database; dropped afterwards."""
    name = f"hp_k8s_{uuid.uuid4().hex[:10]}"

    async def admin(*statements: str) -> None:
        connection = await asyncpg.connect(ADMIN_DSN)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(
        admin(f'CREATE ROLE "{name}" LOGIN SUPERUSER', f'CREATE DATABASE "{name}" OWNER "{name}"')
    )
    try:
        yield name, name
    finally:
        asyncio.run(
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{name}"')
        )


@contextlib.contextmanager
def _redis_prefix() -> Iterator[str]:
    prefix = f"hp_k8s_{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _settings(manifests: list[Manifest], prefix: str) -> Manifest:
    for manifest in manifests:
        if manifest["kind"] == "ConfigMap" and manifest["metadata"]["name"].startswith(prefix):
            return manifest
    raise AssertionError(f"no ConfigMap {prefix}*")


@contextlib.contextmanager
def _private_manifests(
    rendered: dict[str, list[Manifest]], images: dict[str, str]
) -> Iterator[list[Manifest]]:
    """The rendered minikube overlay, with only the backend's database name, role and Redis key
    prefix made private to this run (host names and ports stay the manifests'), and this
    checkout's build of each HostPulse image."""
    with _database() as (role, database), _redis_prefix() as prefix:
        objects = copy.deepcopy(rendered["minikube"])
        _use_this_checkouts_images(objects, images)
        settings = _settings(objects, "hostpulse-backend-settings-")["data"]
        url = settings["DATABASE_URL"]
        assert url == "postgresql://hostpulse@postgres:5432/hostpulse", url
        settings["DATABASE_URL"] = f"postgresql://{role}@postgres:5432/{database}"
        settings["HOSTPULSE_REDIS_PREFIX"] = prefix
        yield objects


@pytest.fixture(scope="module")
def manifests(
    rendered: dict[str, list[Manifest]], hostpulse_images: dict[str, str]
) -> Iterator[list[Manifest]]:
    with _private_manifests(rendered, hostpulse_images) as objects:
        yield objects


def _database_of(objects: list[Manifest]) -> str:
    url: str = _settings(objects, "hostpulse-backend-settings-")["data"]["DATABASE_URL"]
    return url.rsplit("/", 1)[1]


def _use_this_checkouts_images(objects: list[Manifest], images: dict[str, str]) -> None:
    """Each manifest names `localhost/hostpulse-<component>:<version>` (what scripts/build-images
    tags); the run uses the image the fixture built from this checkout for that component (its
    content-addressed tag: the `<version>` tag in the shared podman storage may be another
    checkout's build)."""
    version = project_version()
    for manifest in objects:
        template = (manifest.get("spec") or {}).get("template")
        if not template:
            continue
        spec = template["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for component, built in images.items():
                if container["image"] == f"localhost/hostpulse-{component}:{version}":
                    container["image"] = built


def _plans(objects: list[Manifest]) -> dict[str, PodPlan]:
    return {
        "backend": pod_runner.plan_pod(objects, "Deployment", "backend", node_name=NODE_NAME),
        "dashboard": pod_runner.plan_pod(objects, "Deployment", "dashboard", node_name=NODE_NAME),
        "agent": pod_runner.plan_pod(
            objects, "DaemonSet", "hostpulse-agent", node_name=NODE_NAME, pod_name="agent-x7k2p"
        ),
    }


@pytest.fixture(scope="module")
def cluster(
    require_slirp4netns: None,
    podman_env: dict[str, str],
    base_image: str,
    hostpulse_images: dict[str, str],
    manifests: list[Manifest],
) -> Iterator[tuple[pod_runner.Node, dict[str, pod_runner.RunningContainer]]]:
    """The backend, dashboard and agent pods on one harness node, started in that order."""
    plans = _plans(manifests)
    images = {c.image for plan in plans.values() for c in plan.containers}
    assert images == set(hostpulse_images.values()), images
    with pod_runner.node(
        podman_env, base_image, manifests, list(plans.values()), SERVICES_ON_NODE
    ) as n:
        running: dict[str, pod_runner.RunningContainer] = {}
        for key in ("backend", "dashboard", "agent"):
            started = n.start(plans[key])
            (container,) = started.values()
            running[key] = container
        yield n, running


@pytest.mark.parametrize("pod", ["backend", "dashboard", "agent"])
def test_pod_starts_and_passes_its_probes(
    cluster: tuple[pod_runner.Node, dict[str, pod_runner.RunningContainer]], pod: str
) -> None:
    n, running = cluster
    container = running[pod]
    started = n.wait_started(container)
    assert started.ok, started.detail
    results = n.check_probes(container)
    assert set(results) == {"readinessProbe", "livenessProbe"}
    for name, result in results.items():
        assert result.ok, f"{pod} {name}: {result.detail}"


def test_the_agent_reports_to_the_backend_service_as_its_node(
    cluster: tuple[pod_runner.Node, dict[str, pod_runner.RunningContainer]],
    manifests: list[Manifest],
) -> None:
    """Through the backend Service's DNS name, with the token from the mounted Secret (mode 0440,
    group fsGroup) and the node's name from the downward API, never the pod's."""
    n, running = cluster
    for pod in ("backend", "agent"):
        assert n.wait_started(running[pod]).ok
    database = _database_of(manifests)

    async def hosts() -> set[str]:
        connection = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + "/" + database)
        try:
            return {
                row["host"] for row in await connection.fetch("SELECT DISTINCT host FROM series")
            }
        finally:
            await connection.close()

    deadline = time.monotonic() + 90
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = asyncio.run(hosts())
        if seen:
            break
        time.sleep(1)
    assert seen == {NODE_NAME}, f"hosts {seen}; agent logs:\n{n.logs(running['agent'])}"


def test_a_wrong_probe_path_or_port_fails(
    cluster: tuple[pod_runner.Node, dict[str, pod_runner.RunningContainer]],
) -> None:
    n, running = cluster
    backend = running["backend"]
    assert n.wait_started(backend).ok
    readiness = backend.plan.probes["readinessProbe"]
    assert n.probe(backend, readiness).ok

    wrong_path = copy.deepcopy(readiness)
    wrong_path["httpGet"]["path"] = "/ready"
    result = n.probe(backend, wrong_path)
    assert not result.ok
    assert ": 404" in result.detail, result.detail

    # A port name the container does not declare (the kubelet rejects such a probe too).
    wrong_port = copy.deepcopy(readiness)
    wrong_port["httpGet"]["port"] = "metrics"
    with pytest.raises(HarnessError, match="not a named port"):
        n.probe(backend, wrong_port)


def test_exec_probes_run_in_the_container(
    cluster: tuple[pod_runner.Node, dict[str, pod_runner.RunningContainer]],
) -> None:
    n, running = cluster
    agent = running["agent"]
    assert n.wait_started(agent).ok
    good = {"exec": {"command": ["hostpulse-exporter", "--version"]}, "timeoutSeconds": 10}
    assert n.probe(agent, good).ok
    bad = {"exec": {"command": ["hostpulse-exporter", "--no-such-flag"]}, "timeoutSeconds": 10}
    assert not n.probe(agent, bad).ok


def _run_mutated(
    env: dict[str, str],
    pause_image: str,
    objects: list[Manifest],
    kind: str,
    name: str,
    cap_seconds: float,
) -> ProbeResult:
    """Start one mutated workload on a node of its own; its startup probe's verdict."""
    plan = pod_runner.plan_pod(objects, kind, name, node_name=NODE_NAME)
    with pod_runner.node(env, pause_image, objects, [plan], SERVICES_ON_NODE) as n:
        try:
            started = n.start(plan)
        except HarnessError as exc:
            return ProbeResult(False, str(exc))
        (container,) = started.values()
        return n.wait_started(container, cap_seconds=cap_seconds)


def test_a_renamed_env_var_fails_the_backend_pod(
    podman_env: dict[str, str],
    base_image: str,
    hostpulse_images: dict[str, str],
    require_slirp4netns: None,
    manifests: list[Manifest],
) -> None:
    """A settings key the backend does not know (DATABASE_URI) leaves it without a database: its
    `migrate` init container stops the pod, naming the setting."""
    objects = copy.deepcopy(manifests)
    data = _settings(objects, "hostpulse-backend-settings-")["data"]
    data["DATABASE_URI"] = data.pop("DATABASE_URL")
    result = _run_mutated(podman_env, base_image, objects, "Deployment", "backend", 30)
    assert not result.ok
    assert "init container migrate exited" in result.detail
    assert "database_url" in result.detail.lower()


def test_a_wrong_command_fails(
    podman_env: dict[str, str],
    base_image: str,
    hostpulse_images: dict[str, str],
    require_slirp4netns: None,
    manifests: list[Manifest],
) -> None:
    objects = copy.deepcopy(manifests)
    dashboard = find(objects, "Deployment", "dashboard")["spec"]["template"]["spec"]
    dashboard["containers"][0]["command"] = ["hostpulse-dashbord"]
    result = _run_mutated(podman_env, base_image, objects, "Deployment", "dashboard", 15)
    assert not result.ok
    assert "hostpulse-dashbord" in result.detail


def test_a_wrong_container_port_fails(
    podman_env: dict[str, str],
    base_image: str,
    hostpulse_images: dict[str, str],
    require_slirp4netns: None,
    manifests: list[Manifest],
) -> None:
    """The dashboard serves on the port its args name; a containerPort that differs is probed
    in vain."""
    objects = copy.deepcopy(manifests)
    dashboard = find(objects, "Deployment", "dashboard")["spec"]["template"]["spec"]
    dashboard["containers"][0]["ports"][0]["containerPort"] = 8081
    result = _run_mutated(podman_env, base_image, objects, "Deployment", "dashboard", 15)
    assert not result.ok


# --- the StatefulSets' exec probes, against the machine's PostgreSQL and Redis ----------------


def _exec_probe(manifests: list[Manifest], name: str, probe: str) -> list[str]:
    container = find(manifests, "StatefulSet", name)["spec"]["template"]["spec"]["containers"][0]
    command: list[str] = container[probe]["exec"]["command"]
    return command


@pytest.mark.parametrize(
    ("statefulset", "probes", "program"),
    [
        ("postgres", ("startupProbe", "readinessProbe", "livenessProbe"), "pg_isready"),
        ("redis", ("readinessProbe", "livenessProbe"), "redis-cli"),
    ],
)
def test_statefulset_exec_probes_pass_against_a_real_server_and_fail_without_one(
    rendered: dict[str, list[Manifest]], statefulset: str, probes: tuple[str, ...], program: str
) -> None:
    """The official images cannot run here: the same commands run on this machine against its
    PostgreSQL 15 and Redis 7 on the ports the manifests probe, then against a closed port."""
    require_program(program)
    closed = str(pod_runner._free_port())
    for probe in probes:
        command = _exec_probe(rendered["minikube"], statefulset, probe)
        assert command[0] == program
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        if program == "redis-cli":
            assert done.stdout.strip() == "PONG"  # redis-cli exits 0 on errors too
        wrong = [
            part.replace("5432", closed) if part.startswith("--port=") else part for part in command
        ]
        if program == "redis-cli":
            wrong[wrong.index("-p") + 1] = closed
        failed = subprocess.run(wrong, capture_output=True, text=True, timeout=30, check=False)
        assert failed.returncode != 0 or failed.stdout.strip() != "PONG", wrong


def test_two_backend_pods_migrate_together_serve_and_drain_within_the_grace_period(
    podman_env: dict[str, str],
    base_image: str,
    require_slirp4netns: None,
    rendered: dict[str, list[Manifest]],
    hostpulse_images: dict[str, str],
) -> None:
    """The Deployment's 2 replicas on two nodes, started at the same moment on a fresh database:
    both `migrate` init containers succeed (the migrations' advisory lock), both backends start
    and are ready; then one is stopped as the kubelet does and exits 0 before SIGKILL."""
    with _private_manifests(rendered, hostpulse_images) as objects:
        replicas = find(objects, "Deployment", "backend")["spec"]["replicas"]
        assert replicas == 2
        plans = [
            pod_runner.plan_pod(objects, "Deployment", "backend", pod_name=f"backend-{i}")
            for i in range(replicas)
        ]
        grace = find(objects, "Deployment", "backend")["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"
        ]
        with contextlib.ExitStack() as stack:
            nodes = [
                stack.enter_context(
                    pod_runner.node(podman_env, base_image, objects, [plan], SERVICES_ON_NODE)
                )
                for plan in plans
            ]
            with concurrent.futures.ThreadPoolExecutor(replicas) as pool:
                started = list(
                    pool.map(lambda pair: pair[0].start(pair[1]), zip(nodes, plans, strict=True))
                )
            containers = [next(iter(s.values())) for s in started]
            for n, container in zip(nodes, containers, strict=True):
                assert (result := n.wait_started(container)).ok, result.detail
                ready = n.check_probes(container)["readinessProbe"]
                assert ready.ok, ready.detail
            code, took = nodes[0].terminate(containers[0], grace)
            assert code == 0, nodes[0].logs(containers[0])
            assert took < grace


def test_the_dashboard_pod_names_the_ingress_origin_as_its_backend(
    cluster: tuple[pod_runner.Node, dict[str, pod_runner.RunningContainer]],
    manifests: list[Manifest],
) -> None:
    """The browser's backend is the Ingress origin the overlay sets (one origin: no CORS), read by
    the dashboard from HOSTPULSE_BACKEND_URL; its CSP allows exactly that origin."""
    import json
    import urllib.request

    n, running = cluster
    dashboard = running["dashboard"]
    assert n.wait_started(dashboard).ok
    ingress = find(manifests, "Ingress", "hostpulse")["spec"]["rules"][0]["host"]
    port = n.published[dashboard.plan.ports["http"]]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/config.json", timeout=10) as answer:
        backend_url = json.load(answer)["backend_url"]
    assert backend_url == f"http://{ingress}:8080"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
        csp = answer.headers["content-security-policy"]
    assert f"http://{ingress}:8080" in csp
