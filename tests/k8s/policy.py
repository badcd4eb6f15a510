"""Policy checks on rendered manifests, in the spirit of checkov's and kube-linter's Kubernetes
checks (checkov itself does not install beside this project's dependencies: it pins an older
`packaging`). Pure functions over parsed YAML; tests/k8s/test_policy.py runs them on every overlay.

A workload may skip a hardening check only with an annotation naming it and saying why:
`policy.hostpulse.dev/skip-<check>: <reason>`. A skip whose check would pass anyway is reported too,
so an exception cannot outlive its reason."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]
Check = Callable[[list[Manifest]], list[str]]

SKIP_PREFIX = "policy.hostpulse.dev/skip-"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
# Run to completion: no probes needed, and their selector is made by the API server.
BATCH_KINDS = ("Job", "CronJob")

# check id -> what it requires (skippable by annotation)
HARDENING_CHECKS = {
    "run-as-non-root": "runAsNonRoot: true and no runAsUser 0 (pod or container)",
    "read-only-root-filesystem": "securityContext.readOnlyRootFilesystem: true",
    "no-privilege-escalation": "securityContext.allowPrivilegeEscalation: false, not privileged",
    "seccomp-runtime-default": "seccompProfile.type RuntimeDefault (pod or container)",
    "drop-all-capabilities": "capabilities.drop: [ALL] and nothing added",
    "resources": "cpu and memory requests and limits",
    "pinned-image": "an image tag that is not `latest`",
    "image-pull-policy": "imagePullPolicy: Always",
    "no-service-account-token": "automountServiceAccountToken: false",
    "host-namespaces": "no hostPID, hostIPC or hostNetwork",
    "host-path": "no hostPath volume",
    "probes": "readinessProbe and livenessProbe on every long-running container",
}


@dataclass(frozen=True)
class Finding:
    workload: str  # Kind/namespace/name
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.workload}: {self.check}: {self.detail}"


def workload_id(manifest: Manifest) -> str:
    meta = manifest["metadata"]
    return f"{manifest['kind']}/{meta.get('namespace', '-')}/{meta['name']}"


def pod_template(manifest: Manifest) -> Manifest | None:
    """The pod template's metadata+spec of a workload, None for other kinds."""
    kind = manifest["kind"]
    if kind == "Pod":
        return manifest
    if kind == "CronJob":
        template: Manifest = manifest["spec"]["jobTemplate"]["spec"]["template"]
        return template
    if kind in WORKLOAD_KINDS:
        template = manifest["spec"]["template"]
        return template
    return None


def workloads(manifests: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    for manifest in manifests:
        template = pod_template(manifest)
        if template is not None:
            yield manifest, template


def containers(pod_spec: Manifest) -> Iterator[tuple[Manifest, bool]]:
    """Every container with whether it is an init container."""
    for container in pod_spec.get("initContainers", []):
        yield container, True
    for container in pod_spec.get("containers", []):
        yield container, False


def skips(manifest: Manifest) -> dict[str, str]:
    annotations: dict[str, str] = manifest["metadata"].get("annotations") or {}
    return {
        key.removeprefix(SKIP_PREFIX): reason
        for key, reason in annotations.items()
        if key.startswith(SKIP_PREFIX)
    }


def _effective(pod_spec: Manifest, container: Manifest, field: str) -> Any:
    container_value = (container.get("securityContext") or {}).get(field)
    if container_value is not None:
        return container_value
    return (pod_spec.get("securityContext") or {}).get(field)


def _image_tag(image: str) -> str | None:
    if "@sha256:" in image:
        return image.rsplit("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def hardening_findings(manifest: Manifest, template: Manifest) -> list[Finding]:
    """Every hardening check that fails for this workload, before skips are applied."""
    spec: Manifest = template["spec"]
    wid = workload_id(manifest)
    found: list[Finding] = []

    def fail(check: str, detail: str) -> None:
        found.append(Finding(wid, check, detail))

    if spec.get("automountServiceAccountToken") is not False:
        fail("no-service-account-token", "automountServiceAccountToken is not false")
    for field in ("hostPID", "hostIPC", "hostNetwork"):
        if spec.get(field):
            fail("host-namespaces", f"{field}: true")
    for volume in spec.get("volumes", []):
        if "hostPath" in volume:
            fail("host-path", f"volume {volume['name']} is hostPath {volume['hostPath']['path']}")
    for container, is_init in containers(spec):
        name = container["name"]
        context = container.get("securityContext") or {}
        if _effective(spec, container, "runAsNonRoot") is not True:
            fail("run-as-non-root", f"container {name}: runAsNonRoot is not true")
        if _effective(spec, container, "runAsUser") == 0:
            fail("run-as-non-root", f"container {name}: runAsUser is 0")
        if context.get("readOnlyRootFilesystem") is not True:
            fail("read-only-root-filesystem", f"container {name}")
        if context.get("allowPrivilegeEscalation") is not False or context.get("privileged"):
            fail("no-privilege-escalation", f"container {name}")
        seccomp = _effective(spec, container, "seccompProfile") or {}
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            fail(
                "seccomp-runtime-default", f"container {name}: seccompProfile {seccomp or 'unset'}"
            )
        capabilities = context.get("capabilities") or {}
        if "ALL" not in capabilities.get("drop", []) or capabilities.get("add"):
            fail("drop-all-capabilities", f"container {name}: {capabilities or 'unset'}")
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(section) or {}):
                    fail("resources", f"container {name}: no {resource} in {section}")
        tag = _image_tag(container["image"])
        if tag is None or tag == "latest":
            fail("pinned-image", f"container {name}: image {container['image']}")
        if container.get("imagePullPolicy") != "Always":
            fail("image-pull-policy", f"container {name}: {container.get('imagePullPolicy')}")
        if not is_init and manifest["kind"] not in BATCH_KINDS:
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in container:
                    fail("probes", f"container {name}: no {probe}")
    return found


@dataclass(frozen=True)
class PolicyResult:
    violations: list[Finding]  # failed and not skipped
    skipped: list[Finding]  # failed, skipped with a reason
    problems: list[str]  # unknown or stale skips, skips without a reason


def check_hardening(manifests: list[Manifest]) -> PolicyResult:
    violations: list[Finding] = []
    skipped: list[Finding] = []
    problems: list[str] = []
    for manifest, template in workloads(manifests):
        wid = workload_id(manifest)
        allowed = skips(manifest)
        findings = hardening_findings(manifest, template)
        failing_checks = {finding.check for finding in findings}
        for check, reason in allowed.items():
            if check not in HARDENING_CHECKS:
                problems.append(f"{wid}: skip of unknown check {check!r}")
            elif check not in failing_checks:
                problems.append(f"{wid}: skip of {check!r} but the check passes: remove it")
            if len(reason.strip()) < 20:
                problems.append(f"{wid}: skip of {check!r} needs a reason, got {reason!r}")
        for finding in findings:
            (skipped if finding.check in allowed else violations).append(finding)
    return PolicyResult(violations, skipped, problems)


# --- consistency between objects (never skippable) -------------------------------------------


def _by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def _namespace(manifest: Manifest) -> str:
    namespace: str = manifest["metadata"].get("namespace", "default")
    return namespace


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _pods_selected(
    manifests: list[Manifest], namespace: str, selector: dict[str, str]
) -> list[Manifest]:
    return [
        template
        for manifest, template in workloads(manifests)
        if _namespace(manifest) == namespace
        and _matches(selector, template["metadata"].get("labels") or {})
    ]


def selector_problems(manifests: list[Manifest]) -> list[str]:
    """Workload selectors match their own pods; Services, PDBs and NetworkPolicies select pods."""
    problems: list[str] = []
    for manifest, template in workloads(manifests):
        if manifest["kind"] == "Pod" or manifest["kind"] in BATCH_KINDS:
            continue
        own = manifest["spec"].get("selector", {}).get("matchLabels", {})
        if not _matches(own, template["metadata"].get("labels") or {}):
            problems.append(f"{workload_id(manifest)}: selector {own} misses its pod labels")
    for kind, path in (
        ("Service", ("selector",)),
        ("PodDisruptionBudget", ("selector", "matchLabels")),
        ("NetworkPolicy", ("podSelector", "matchLabels")),
    ):
        for manifest in _by_kind(manifests, kind):
            selector: Any = manifest["spec"]
            for key in path:
                selector = (selector or {}).get(key)
            if kind == "NetworkPolicy" and not selector:
                continue  # an empty podSelector is every pod of the namespace, on purpose
            if not _pods_selected(manifests, _namespace(manifest), selector or {}):
                problems.append(f"{workload_id(manifest)}: selector {selector} selects no pod")
    return problems


def _container_ports(template: Manifest) -> list[Manifest]:
    return [port for c in template["spec"].get("containers", []) for port in c.get("ports", [])]


def service_port_problems(manifests: list[Manifest]) -> list[str]:
    """Every Service targetPort is a port (by name or number) of every pod it selects; each
    StatefulSet's serviceName is a headless Service; Ingress backends name existing ports."""
    problems: list[str] = []
    services = {(_namespace(s), s["metadata"]["name"]): s for s in _by_kind(manifests, "Service")}
    for (namespace, name), service in services.items():
        pods = _pods_selected(manifests, namespace, service["spec"].get("selector") or {})
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for pod in pods:
                ports = _container_ports(pod)
                if not any(target in (p.get("name"), p["containerPort"]) for p in ports):
                    problems.append(f"Service {namespace}/{name}: targetPort {target} not on a pod")
    for manifest in _by_kind(manifests, "StatefulSet"):
        governing = services.get((_namespace(manifest), manifest["spec"].get("serviceName", "")))
        if governing is None or governing["spec"].get("clusterIP") != "None":
            problems.append(f"{workload_id(manifest)}: serviceName is not a headless Service")
    for ingress in _by_kind(manifests, "Ingress"):
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]
                routed = services.get((_namespace(ingress), backend["name"]))
                wanted = backend["port"].get("name", backend["port"].get("number"))
                if routed is None or not any(
                    wanted in (p.get("name"), p["port"]) for p in routed["spec"]["ports"]
                ):
                    problems.append(f"Ingress {path['path']}: no Service port {backend}")
    return problems


def probe_port_problems(manifests: list[Manifest]) -> list[str]:
    problems: list[str] = []
    for manifest, template in workloads(manifests):
        for container, _ in containers(template["spec"]):
            names = {p.get("name") for p in container.get("ports", [])}
            numbers = {p["containerPort"] for p in container.get("ports", [])}
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(probe_name) or {}
                handler = probe.get("httpGet") or probe.get("tcpSocket")
                if handler and handler["port"] not in names | numbers:
                    problems.append(
                        f"{workload_id(manifest)}: {container['name']} {probe_name} port "
                        f"{handler['port']} is not a port of the container"
                    )
    return problems


def _data_keys(manifests: list[Manifest], kind: str, namespace: str, name: str) -> set[str] | None:
    for manifest in _by_kind(manifests, kind):
        if _namespace(manifest) == namespace and manifest["metadata"]["name"] == name:
            return set(manifest.get("data") or {}) | set(manifest.get("stringData") or {})
    return None


def reference_problems(manifests: list[Manifest]) -> list[str]:
    """Every ConfigMap/Secret a pod references exists in its namespace with the keys it names,
    and every `$(VAR)` in an env value names a variable defined before it."""
    problems: list[str] = []
    for manifest, template in workloads(manifests):
        namespace, wid = _namespace(manifest), workload_id(manifest)

        def need(kind: str, name: str, keys: list[str], where: str) -> None:
            present = _data_keys(manifests, kind, namespace, name)  # noqa: B023
            if present is None:
                problems.append(f"{wid}: {where}: no {kind} {name} in {namespace}")  # noqa: B023
                return
            for key in keys:
                if key not in present:
                    problems.append(f"{wid}: {where}: {kind} {name} has no key {key!r}")  # noqa: B023

        spec = template["spec"]
        for container, _ in containers(spec):
            where = f"container {container['name']}"
            defined: set[str] = set()
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    need("ConfigMap", source["configMapRef"]["name"], [], where)
                if "secretRef" in source:
                    need("Secret", source["secretRef"]["name"], [], where)
            for variable in container.get("env", []):
                value_from = variable.get("valueFrom") or {}
                if "configMapKeyRef" in value_from:
                    ref = value_from["configMapKeyRef"]
                    need("ConfigMap", ref["name"], [ref["key"]], where)
                if "secretKeyRef" in value_from:
                    ref = value_from["secretKeyRef"]
                    need("Secret", ref["name"], [ref["key"]], where)
                for used in re.findall(
                    r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", variable.get("value", "")
                ):
                    if used not in defined:
                        problems.append(
                            f"{wid}: {where}: {variable['name']} uses $({used}) undefined before it"
                        )
                defined.add(variable["name"])
        for volume in spec.get("volumes", []):
            for kind, field, name_key in (
                ("ConfigMap", "configMap", "name"),
                ("Secret", "secret", "secretName"),
            ):
                if field in volume:
                    source = volume[field]
                    keys = [item["key"] for item in source.get("items", [])]
                    need(kind, source[name_key], keys, f"volume {volume['name']}")
        for container, _ in containers(spec):
            volume_names = {v["name"] for v in spec.get("volumes", [])}
            volume_names |= {
                t["metadata"]["name"] for t in manifest["spec"].get("volumeClaimTemplates", [])
            }
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volume_names:
                    problems.append(
                        f"{wid}: {container['name']} mounts unknown volume {mount['name']}"
                    )
    return problems


def storage_problems(manifests: list[Manifest]) -> list[str]:
    """Every PersistentVolumeClaim, standalone or a StatefulSet's template, asks for a size."""
    claims = [(workload_id(m), m) for m in _by_kind(manifests, "PersistentVolumeClaim")]
    for manifest in _by_kind(manifests, "StatefulSet"):
        claims += [
            (workload_id(manifest), t) for t in manifest["spec"].get("volumeClaimTemplates", [])
        ]
    return [
        f"{owner}: claim {claim['metadata']['name']} has no storage request"
        for owner, claim in claims
        if not claim["spec"].get("resources", {}).get("requests", {}).get("storage")
    ]
