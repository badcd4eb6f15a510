"""Run the rendered manifests' containers with podman, as a kubelet would, and probe them.

No Kubernetes API server or kubelet can run here (nothing packages one), so this harness does the
part of their work that decides whether a manifest's containers start and pass their probes:

- `plan_pod` (pure) reads one workload of the rendered overlay and resolves each container: the
  image, `command` (replaces the image's ENTRYPOINT, and its CMD) and `args`, the environment from
  `envFrom`/`env` (ConfigMap and Secret keys of the rendered objects, the downward API, `$(VAR)`
  references), ports, user and groups, read-only root filesystem, capabilities, no-new-privileges,
  host PID, and every volume mount: emptyDir as a tmpfs, Secret and ConfigMap volumes as files
  (with their items, mode and the pod's fsGroup as group), hostPath as a bind mount.
- `Node` is one podman network namespace (a `sleep` container on slirp4netns) that the pods of a
  test share, like a pod network where every Service name resolves to a loopback: Services of
  workloads the test runs resolve to 127.0.0.1 (the Service's port is the container's port), the
  others (PostgreSQL, Redis: their official images cannot be pulled here) to the host's loopback
  (10.0.2.2), where the machine's PostgreSQL and Redis answer on the same ports. Container ports
  are published on 127.0.0.1 of the host, and probes reach them from outside the namespace, as the
  kubelet reaches a pod's IP: a server bound to the pod's loopback fails its httpGet probe.
- `Node.start` runs the init containers to completion, then the containers; `wait_started` and
  `probe` run startupProbe, readinessProbe and livenessProbe (httpGet, tcpSocket, exec) with the
  manifest's period, timeout and thresholds.

What it does not do: scheduling, resource limits, NetworkPolicies, Pod Security admission,
restarts. tests/k8s/test_pod_runner.py drives it; the images come from tests/images.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Manifest = dict[str, Any]

HOST_LOOPBACK = "10.0.2.2"  # slirp4netns's address for the host's 127.0.0.1
POD_IP = "10.0.2.100"  # slirp4netns's address of the namespace itself
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


class HarnessError(AssertionError):
    """A manifest the harness cannot run, or a container that did not start or pass a probe."""


# --- planning (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    target: str
    read_only: bool
    tmpfs_size: str | None = None  # an emptyDir
    files: Mapping[str, bytes] | None = None  # a Secret/ConfigMap volume: relative path -> bytes
    mode: int = 0o644
    group: int | None = None
    host_path: str | None = None
    claim: str | None = None  # a volumeClaimTemplate: a fresh directory


@dataclass
class ContainerPlan:
    name: str
    image: str
    command: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    ports: dict[str, int]  # name (or str(number)) -> containerPort
    user: str | None
    groups: list[int]
    read_only: bool
    drop_all: bool
    add_capabilities: list[str]
    no_new_privileges: bool
    host_pid: bool
    mounts: list[Mount]
    probes: dict[str, Manifest]
    is_init: bool


@dataclass
class PodPlan:
    workload: str  # Kind/namespace/name
    namespace: str
    pod_name: str
    containers: list[ContainerPlan]

    def container(self, name: str) -> ContainerPlan:
        for container in self.containers:
            if container.name == name:
                return container
        raise HarnessError(f"{self.workload}: no container {name}")


def find_workload(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    for manifest in manifests:
        if manifest["kind"] == kind and manifest["metadata"]["name"] == name:
            return manifest
    raise HarnessError(f"no {kind} {name} in the rendered overlay")


def _object(manifests: list[Manifest], kind: str, namespace: str, name: str) -> Manifest:
    for manifest in manifests:
        meta = manifest["metadata"]
        if (
            manifest["kind"] == kind
            and meta["name"] == name
            and meta.get("namespace", "default") == namespace
        ):
            return manifest
    raise HarnessError(f"no {kind} {name} in namespace {namespace}")


def _data(obj: Manifest) -> dict[str, bytes]:
    """A ConfigMap's or Secret's keys as bytes (Secret data is base64)."""
    values: dict[str, bytes] = {}
    if obj["kind"] == "Secret":
        for key, value in (obj.get("data") or {}).items():
            values[key] = base64.b64decode(value)
        for key, value in (obj.get("stringData") or {}).items():
            values[key] = str(value).encode()
    else:
        for key, value in (obj.get("data") or {}).items():
            values[key] = str(value).encode()
        for key, value in (obj.get("binaryData") or {}).items():
            values[key] = base64.b64decode(value)
    return values


_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\$")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` is a literal `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, value)


def _env(
    manifests: list[Manifest],
    namespace: str,
    container: Manifest,
    downward: Mapping[str, str],
) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        for kind, field_name in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if field_name in source:
                ref = source[field_name]
                try:
                    obj = _object(manifests, kind, namespace, ref["name"])
                except HarnessError:
                    if ref.get("optional"):
                        continue
                    raise
                for key, value in _data(obj).items():
                    env[prefix + key] = value.decode()
    for variable in container.get("env", []):
        name = variable["name"]
        if "value" in variable:
            env[name] = expand(str(variable["value"]), env)
            continue
        source = variable.get("valueFrom") or {}
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            if path not in downward:
                raise HarnessError(f"{container['name']}: fieldRef {path} is not supported here")
            env[name] = downward[path]
        elif "secretKeyRef" in source or "configMapKeyRef" in source:
            kind, ref = (
                ("Secret", source["secretKeyRef"])
                if "secretKeyRef" in source
                else ("ConfigMap", source["configMapKeyRef"])
            )
            values = _data(_object(manifests, kind, namespace, ref["name"]))
            if ref["key"] not in values:
                raise HarnessError(f"{container['name']}: {kind} {ref['name']} has no {ref['key']}")
            env[name] = values[ref["key"]].decode()
        else:
            raise HarnessError(f"{container['name']}: env {name}: unsupported source {source}")
    return env


def _volume_mounts(
    manifests: list[Manifest],
    workload: Manifest,
    pod_spec: Manifest,
    container: Manifest,
) -> list[Mount]:
    namespace = workload["metadata"].get("namespace", "default")
    fs_group = (pod_spec.get("securityContext") or {}).get("fsGroup")
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes", [])}
    claims = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
    mounts: list[Mount] = []
    for mount in container.get("volumeMounts", []):
        target, read_only = mount["mountPath"], bool(mount.get("readOnly", False))
        if mount["name"] in claims:
            mounts.append(Mount(target, read_only, claim=mount["name"]))
            continue
        volume = volumes.get(mount["name"])
        if volume is None:
            raise HarnessError(f"{container['name']}: mounts unknown volume {mount['name']}")
        if "emptyDir" in volume:
            size = (volume["emptyDir"] or {}).get("sizeLimit", "64Mi")
            mounts.append(Mount(target, read_only, tmpfs_size=_tmpfs_size(size)))
        elif "secret" in volume or "configMap" in volume:
            kind, source = (
                ("Secret", volume["secret"])
                if "secret" in volume
                else ("ConfigMap", volume["configMap"])
            )
            name = source["secretName"] if kind == "Secret" else source["name"]
            values = _data(_object(manifests, kind, namespace, name))
            if "items" in source:
                files = {}
                for item in source["items"]:
                    if item["key"] not in values:
                        raise HarnessError(f"{kind} {name} has no key {item['key']}")
                    files[item["path"]] = values[item["key"]]
            else:
                files = dict(values)
            if "subPath" in mount:
                raise HarnessError(f"{container['name']}: subPath mounts are not supported here")
            mounts.append(
                Mount(
                    target,
                    read_only,
                    files=files,
                    mode=source.get("defaultMode", 0o644),
                    group=fs_group,
                )
            )
        elif "hostPath" in volume:
            mounts.append(Mount(target, read_only, host_path=volume["hostPath"]["path"]))
        else:
            raise HarnessError(f"{container['name']}: volume {mount['name']} kind not supported")
    return mounts


def _tmpfs_size(quantity: str) -> str:
    units = {"Ki": "k", "Mi": "m", "Gi": "g"}
    for suffix, short in units.items():
        if quantity.endswith(suffix):
            return quantity.removesuffix(suffix) + short
    return quantity


def plan_pod(
    manifests: list[Manifest],
    kind: str,
    name: str,
    *,
    node_name: str = "harness-node",
    pod_name: str | None = None,
) -> PodPlan:
    """Everything needed to run one pod of a workload, resolved from the rendered objects."""
    workload = find_workload(manifests, kind, name)
    namespace = workload["metadata"].get("namespace", "default")
    template = workload["spec"]["template"]
    spec: Manifest = template["spec"]
    pod_name = pod_name or f"{name}-0"
    pod_context = spec.get("securityContext") or {}
    downward = {
        "spec.nodeName": node_name,
        "metadata.name": pod_name,
        "metadata.namespace": namespace,
        "status.podIP": POD_IP,
        "status.hostIP": HOST_LOOPBACK,
    }
    plans: list[ContainerPlan] = []
    for is_init, key in ((True, "initContainers"), (False, "containers")):
        for container in spec.get(key, []):
            context = container.get("securityContext") or {}

            def effective(field_name: str, ctx: Manifest = context) -> Any:
                value = ctx.get(field_name)
                return value if value is not None else pod_context.get(field_name)

            uid, gid = effective("runAsUser"), effective("runAsGroup")
            user = None if uid is None else (f"{uid}:{gid}" if gid is not None else str(uid))
            groups = list(pod_context.get("supplementalGroups", []))
            if pod_context.get("fsGroup") is not None:
                groups.append(pod_context["fsGroup"])
            env = _env(manifests, namespace, container, downward)
            ports: dict[str, int] = {}
            for port in container.get("ports", []):
                ports[str(port["containerPort"])] = port["containerPort"]
                if "name" in port:
                    ports[port["name"]] = port["containerPort"]
            capabilities = context.get("capabilities") or {}
            plans.append(
                ContainerPlan(
                    name=container["name"],
                    image=container["image"],
                    command=[expand(c, env) for c in container["command"]]
                    if "command" in container
                    else None,
                    args=[expand(a, env) for a in container["args"]]
                    if "args" in container
                    else None,
                    env=env,
                    ports=ports,
                    user=user,
                    groups=groups,
                    read_only=bool(context.get("readOnlyRootFilesystem")),
                    drop_all="ALL" in capabilities.get("drop", []),
                    add_capabilities=list(capabilities.get("add", [])),
                    no_new_privileges=context.get("allowPrivilegeEscalation") is False,
                    host_pid=bool(spec.get("hostPID")),
                    mounts=_volume_mounts(manifests, workload, spec, container),
                    probes={p: container[p] for p in PROBES if p in container},
                    is_init=is_init,
                )
            )
    return PodPlan(f"{kind}/{namespace}/{name}", namespace, pod_name, plans)


def service_hosts(
    manifests: list[Manifest], on_node: Sequence[str], cluster_domain: str = "cluster.local"
) -> dict[str, str]:
    """Every Service DNS name -> the address it resolves to in the harness: 127.0.0.1 for the
    Services named in `on_node` (their pods run in the shared namespace), else the host's loopback
    (where the machine's PostgreSQL and Redis stand in for the StatefulSets)."""
    hosts: dict[str, str] = {}
    for manifest in manifests:
        if manifest["kind"] != "Service":
            continue
        name = manifest["metadata"]["name"]
        namespace = manifest["metadata"].get("namespace", "default")
        address = "127.0.0.1" if name in on_node else HOST_LOOPBACK
        for alias in (name, f"{name}.{namespace}", f"{name}.{namespace}.svc"):
            hosts[alias] = address
        hosts[f"{name}.{namespace}.svc.{cluster_domain}"] = address
    return hosts


# --- running ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _podman(env: Mapping[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        ["podman", *args], env=dict(env), capture_output=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
        raise HarnessError(f"podman {' '.join(args[:6])} ... exited {done.returncode}:\n{output}")
    return done.stdout.decode(errors="replace")


@dataclass
class ProbeResult:
    ok: bool
    detail: str


@dataclass
class RunningContainer:
    plan: ContainerPlan
    name: str  # the podman container's name


@dataclass
class Node:
    """One network namespace shared by the pods of a test (see the module docstring)."""

    env: Mapping[str, str]
    pause_image: str
    hosts: Mapping[str, str]
    ports: Sequence[int]  # container ports to publish
    prefix: str = field(default_factory=lambda: f"hp-k8s-{uuid.uuid4().hex[:8]}")
    published: dict[int, int] = field(default_factory=dict)  # container port -> host port
    containers: list[str] = field(default_factory=list)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hp-k8s-")))

    @property
    def pause(self) -> str:
        return f"{self.prefix}-net"

    def create(self) -> None:
        command = [
            "run",
            "--detach",
            "--name",
            self.pause,
            "--pull=never",
            "--network",
            "slirp4netns:allow_host_loopback=true",
        ]
        for port in sorted(set(self.ports)):
            self.published[port] = _free_port()
            command += ["--publish", f"127.0.0.1:{self.published[port]}:{port}"]
        for host, address in sorted(self.hosts.items()):
            command += ["--add-host", f"{host}:{address}"]
        command += [self.pause_image, "sleep", "infinity"]
        _podman(self.env, *command)

    def remove(self) -> None:
        for name in [*reversed(self.containers), self.pause]:
            subprocess.run(
                ["podman", "rm", "--force", "--time", "2", name],
                env=dict(self.env),
                capture_output=True,
                check=False,
                timeout=60,
            )
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _materialize(self, pod: PodPlan, container: ContainerPlan, mount: Mount) -> list[str]:
        if mount.tmpfs_size is not None:
            options = f"rw,size={mount.tmpfs_size},mode=1777"
            return ["--tmpfs", f"{mount.target}:{options}"]
        suffix = ":ro" if mount.read_only else ""
        if mount.host_path is not None:
            return ["--volume", f"{mount.host_path}:{mount.target}{suffix}"]
        if mount.claim is not None:
            directory = self.workdir / pod.pod_name / "claims" / mount.claim
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o777)  # like minikube's hostpath provisioner
            return ["--volume", f"{directory}:{mount.target}{suffix}"]
        assert mount.files is not None
        directory = self.workdir / pod.pod_name / container.name / uuid.uuid4().hex[:8]
        directory.mkdir(parents=True)
        directory.chmod(0o755)
        for relative, content in mount.files.items():
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(mount.mode)
            if mount.group is not None:
                os.chown(path, 0, mount.group)  # the kubelet's ownership: root, group fsGroup
        return ["--volume", f"{directory}:{mount.target}:ro"]

    def _run_args(self, pod: PodPlan, container: ContainerPlan, name: str) -> list[str]:
        args = ["--name", name, "--pull=never", "--network", f"container:{self.pause}"]
        args += ["--hostname", pod.pod_name]
        if container.user:
            args += ["--user", container.user]
        for group in container.groups:
            args += ["--group-add", str(group)]
        if container.read_only:
            args += ["--read-only", "--read-only-tmpfs=false"]
        if container.drop_all:
            args += ["--cap-drop", "ALL"]
        for capability in container.add_capabilities:
            args += ["--cap-add", capability]
        if container.no_new_privileges:
            args += ["--security-opt", "no-new-privileges"]
        if container.host_pid:
            args += ["--pid", "host"]
        for key, value in container.env.items():
            args += ["--env", f"{key}={value}"]
        for mount in container.mounts:
            args += self._materialize(pod, container, mount)
        if container.command is not None:
            args += ["--entrypoint", json.dumps(container.command)]
        args.append(container.image)
        if container.args is not None:
            args += container.args
        return args

    def start(self, pod: PodPlan, init_timeout: float = 180) -> dict[str, RunningContainer]:
        """Run the init containers one by one to success, then start the containers."""
        running: dict[str, RunningContainer] = {}
        for container in pod.containers:
            name = f"{self.prefix}-{pod.pod_name}-{container.name}"
            self.containers.append(name)
            args = self._run_args(pod, container, name)
            if container.is_init:
                done = subprocess.run(
                    ["podman", "run", *args],
                    env=dict(self.env),
                    capture_output=True,
                    timeout=init_timeout,
                    check=False,
                )
                if done.returncode != 0:
                    output = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
                    raise HarnessError(
                        f"{pod.workload}: init container {container.name} exited "
                        f"{done.returncode}:\n{output}"
                    )
            else:
                _podman(self.env, "run", "--detach", *args)
                running[container.name] = RunningContainer(container, name)
        return running

    def logs(self, container: RunningContainer) -> str:
        done = subprocess.run(
            ["podman", "logs", container.name], env=dict(self.env), capture_output=True, check=False
        )
        return (done.stdout + done.stderr).decode(errors="replace")[-3000:]

    def is_running(self, container: RunningContainer) -> bool:
        state = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Running}}", container.name],
            env=dict(self.env),
            capture_output=True,
            check=False,
        )
        return state.stdout.decode().strip() == "true"

    def terminate(self, container: RunningContainer, grace_seconds: float) -> tuple[int, float]:
        """As the kubelet stops a pod: SIGTERM (or the image's STOPSIGNAL), SIGKILL after the
        pod's terminationGracePeriodSeconds. The exit code and the seconds it took."""
        started = time.monotonic()
        _podman(
            self.env,
            "stop",
            "--time",
            str(int(grace_seconds)),
            container.name,
            timeout=grace_seconds + 60,
        )
        took = time.monotonic() - started
        code = _podman(self.env, "inspect", "--format", "{{.State.ExitCode}}", container.name)
        return int(code.strip()), took

    # -- probes, as the kubelet runs them --

    def _port(self, container: ContainerPlan, port: int | str) -> int:
        number = container.ports.get(str(port))
        if number is None:
            if isinstance(port, int):
                number = port
            else:
                raise HarnessError(f"{container.name}: probe port {port!r} is not a named port")
        if number not in self.published:
            raise HarnessError(f"{container.name}: port {number} was not published on the node")
        return self.published[number]

    def probe(self, container: RunningContainer, probe: Manifest) -> ProbeResult:
        """One attempt of a probe, with its timeoutSeconds."""
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            handler = probe["httpGet"]
            scheme = handler.get("scheme", "HTTP").lower()
            port = self._port(container.plan, handler["port"])
            url = f"{scheme}://127.0.0.1:{port}{handler.get('path', '/')}"
            request = urllib.request.Request(url)
            for header in handler.get("httpHeaders", []):
                request.add_header(header["name"], header["value"])
            try:
                with urllib.request.urlopen(request, timeout=timeout) as answer:
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError) as exc:
                return ProbeResult(False, f"GET {url}: {exc}")
            # The kubelet counts 200-399 as success.
            return ProbeResult(200 <= status < 400, f"GET {url}: {status}")
        if "tcpSocket" in probe:
            port = self._port(container.plan, probe["tcpSocket"]["port"])
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
                    # slirp4netns accepts on the host side first: a closed guest port shows as
                    # an immediate EOF, an open one as silence.
                    sock.settimeout(min(timeout, 0.5))
                    try:
                        closed = sock.recv(1) == b""
                    except TimeoutError:
                        closed = False
                    except OSError:
                        closed = True
            except OSError as exc:
                return ProbeResult(False, f"connect 127.0.0.1:{port}: {exc}")
            return ProbeResult(not closed, f"tcp {port}: {'closed' if closed else 'open'}")
        if "exec" in probe:
            command = probe["exec"]["command"]
            try:
                done = subprocess.run(
                    ["podman", "exec", container.name, *command],
                    env=dict(self.env),
                    capture_output=True,
                    timeout=timeout + 10,  # podman exec itself takes a moment under load
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return ProbeResult(False, f"exec {command}: timed out")
            output = (done.stdout + done.stderr).decode(errors="replace").strip()[-300:]
            return ProbeResult(done.returncode == 0, f"exec {command}: {done.returncode} {output}")
        raise HarnessError(f"{container.plan.name}: probe without a handler: {probe}")

    def wait_started(
        self, container: RunningContainer, *, cap_seconds: float | None = None
    ) -> ProbeResult:
        """The startupProbe (or, without one, the readinessProbe) until it succeeds, within
        initialDelaySeconds + periodSeconds x failureThreshold (optionally capped). Fails at once
        when the container has exited."""
        probe = container.plan.probes.get("startupProbe") or container.plan.probes.get(
            "readinessProbe"
        )
        if probe is None:
            raise HarnessError(f"{container.plan.name}: neither startupProbe nor readinessProbe")
        period = float(probe.get("periodSeconds", 10))
        budget = float(probe.get("initialDelaySeconds", 0)) + period * int(
            probe.get("failureThreshold", 3)
        )
        if cap_seconds is not None:
            budget = min(budget, cap_seconds)
        deadline = time.monotonic() + budget
        last = ProbeResult(False, "not probed")
        while True:
            if not self.is_running(container):
                return ProbeResult(False, f"container exited; logs:\n{self.logs(container)}")
            last = self.probe(container, probe)
            if last.ok:
                return last
            if time.monotonic() >= deadline:
                return ProbeResult(
                    False, f"{last.detail} after {budget:.0f} s; logs:\n{self.logs(container)}"
                )
            # Polled faster than the period: the test waits less, the verdict is the same.
            time.sleep(min(period, 1.0))

    def check_probes(self, container: RunningContainer) -> dict[str, ProbeResult]:
        """Each of readinessProbe and livenessProbe once the container has started, retried up
        to its failureThreshold (as the kubelet would before acting on it)."""
        results: dict[str, ProbeResult] = {}
        for name in ("readinessProbe", "livenessProbe"):
            probe = container.plan.probes.get(name)
            if probe is None:
                continue
            result = ProbeResult(False, "not probed")
            for _ in range(int(probe.get("failureThreshold", 3))):
                result = self.probe(container, probe)
                if result.ok:
                    break
                time.sleep(1.0)
            results[name] = result
        return results


@contextlib.contextmanager
def node(
    env: Mapping[str, str],
    pause_image: str,
    manifests: list[Manifest],
    pods: Sequence[PodPlan],
    services_on_node: Sequence[str],
) -> Iterator[Node]:
    """A `Node` publishing every container port of `pods`, removed (with its containers) after."""
    ports = [port for pod in pods for c in pod.containers for port in set(c.ports.values())]
    created = Node(env, pause_image, service_hosts(manifests, services_on_node), ports)
    try:
        created.create()
        yield created
    finally:
        created.remove()
