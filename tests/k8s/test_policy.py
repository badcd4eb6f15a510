"""The hardening list and the cross-object consistency checks of tests/k8s/policy.py on every
rendered overlay, and proof that each check fails on a manifest that breaks it."""

from __future__ import annotations

import copy

import pytest

from tests.k8s import policy
from tests.k8s.rendering import OVERLAYS, Manifest, find

# The deliberate exceptions, each annotated on its workload with the reason.
EXPECTED_SKIPS = {
    "minikube": {
        ("DaemonSet/hostpulse-agent/hostpulse-agent", "host-namespaces"),
        ("DaemonSet/hostpulse-agent/hostpulse-agent", "host-path"),
        ("DaemonSet/hostpulse-agent/hostpulse-agent", "image-pull-policy"),
        ("Deployment/hostpulse/backend", "image-pull-policy"),
        ("Deployment/hostpulse/dashboard", "image-pull-policy"),
        ("Deployment/hostpulse/prometheus", "no-service-account-token"),
    },
    "production": {
        ("DaemonSet/hostpulse-agent/hostpulse-agent", "host-namespaces"),
        ("DaemonSet/hostpulse-agent/hostpulse-agent", "host-path"),
    },
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_hardened_except_annotated_skips(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    result = policy.check_hardening(rendered[overlay])
    assert not result.violations, "\n".join(map(str, result.violations))
    assert not result.problems, "\n".join(result.problems)
    assert {(f.workload, f.check) for f in result.skipped} == EXPECTED_SKIPS[overlay]


@pytest.mark.parametrize(
    "check",
    [
        policy.selector_problems,
        policy.service_port_problems,
        policy.probe_port_problems,
        policy.reference_problems,
        policy.storage_problems,
    ],
)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_objects_fit_together(
    rendered: dict[str, list[Manifest]], overlay: str, check: policy.Check
) -> None:
    assert check(rendered[overlay]) == []


def _mutated(manifests: list[Manifest]) -> list[Manifest]:
    return copy.deepcopy(manifests)


def _backend_container(manifests: list[Manifest]) -> Manifest:
    container: Manifest = find(manifests, "Deployment", "backend")["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def test_a_writable_root_filesystem_is_a_violation(rendered: dict[str, list[Manifest]]) -> None:
    manifests = _mutated(rendered["production"])
    del _backend_container(manifests)["securityContext"]["readOnlyRootFilesystem"]
    violations = policy.check_hardening(manifests).violations
    assert [(v.workload, v.check) for v in violations] == [
        ("Deployment/hostpulse/backend", "read-only-root-filesystem")
    ]


def test_latest_tag_missing_limits_and_added_capability_are_violations(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = _mutated(rendered["production"])
    container = _backend_container(manifests)
    container["image"] = "registry.example.com/hostpulse/hostpulse-backend:latest"
    del container["resources"]["limits"]["memory"]
    container["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]
    checks = {v.check for v in policy.check_hardening(manifests).violations}
    assert checks == {"pinned-image", "resources", "drop-all-capabilities"}


def test_a_stale_or_unknown_skip_is_reported(rendered: dict[str, list[Manifest]]) -> None:
    manifests = _mutated(rendered["production"])
    annotations = find(manifests, "Deployment", "dashboard")["metadata"].setdefault(
        "annotations", {}
    )
    annotations[policy.SKIP_PREFIX + "read-only-root-filesystem"] = "it writes its cache somewhere"
    annotations[policy.SKIP_PREFIX + "no-such-check"] = "a reason long enough to count as one"
    problems = policy.check_hardening(manifests).problems
    assert len(problems) == 2
    assert "check passes" in problems[0] or "check passes" in problems[1]
    assert any("unknown check 'no-such-check'" in p for p in problems)


def test_a_skip_does_not_cover_other_checks(rendered: dict[str, list[Manifest]]) -> None:
    manifests = _mutated(rendered["minikube"])
    agent = find(manifests, "DaemonSet", "hostpulse-agent")["spec"]["template"]["spec"]
    agent["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    violations = policy.check_hardening(manifests).violations
    assert [(v.workload, v.check) for v in violations] == [
        ("DaemonSet/hostpulse-agent/hostpulse-agent", "no-privilege-escalation")
    ]


def test_broken_references_are_found(rendered: dict[str, list[Manifest]]) -> None:
    manifests = _mutated(rendered["minikube"])
    container = _backend_container(manifests)
    container["env"][0]["valueFrom"]["secretKeyRef"]["key"] = "passwd"
    container["ports"][0]["name"] = "web"
    service = find(manifests, "Service", "redis")
    service["spec"]["selector"]["app.kubernetes.io/name"] = "redis-server"
    find(manifests, "StatefulSet", "postgres")["spec"]["volumeClaimTemplates"][0]["spec"][
        "resources"
    ] = {}
    assert any("has no key 'passwd'" in p for p in policy.reference_problems(manifests))
    assert any("targetPort http" in p for p in policy.service_port_problems(manifests))
    assert any("port http is not a port" in p for p in policy.probe_port_problems(manifests))
    assert any("Service/hostpulse/redis" in p for p in policy.selector_problems(manifests))
    assert policy.storage_problems(manifests) == [
        "StatefulSet/hostpulse/postgres: claim data has no storage request"
    ]
