"""The OpenTelemetry Collector and Alertmanager examples.

No OpenTelemetry Collector binary is installable here (none is packaged in the reachable
registries), so the Collector's file is checked for structure: every component a pipeline names is
defined, memory_limiter comes first and batch last, the token comes from the environment, and the
prometheus receiver scrapes the agents. Alertmanager's file goes through `amtool check-config`."""

from __future__ import annotations

import re
import subprocess
from typing import Any

from tests.collector_config.prometheus_files import ALERTMANAGER_YML, OTELCOL_YAML, alerts, load
from tests.conftest import require_program


def pipelines() -> dict[str, dict[str, list[str]]]:
    config: dict[str, Any] = load(OTELCOL_YAML)
    found: dict[str, dict[str, list[str]]] = config["service"]["pipelines"]
    return found


def test_every_component_a_pipeline_names_is_defined() -> None:
    config = load(OTELCOL_YAML)
    for name, pipeline in pipelines().items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline[kind]:
                assert component in (config.get(kind) or {}), f"{name}: {kind} {component}"
    used = {c for p in pipelines().values() for kind in p.values() for c in kind}
    for kind in ("receivers", "processors", "exporters"):
        assert set(config[kind]) <= used, f"every defined {kind[:-1]} is used"


def test_memory_limiter_first_and_batch_last_in_every_pipeline() -> None:
    for name, pipeline in pipelines().items():
        assert pipeline["processors"][0] == "memory_limiter", name
        assert pipeline["processors"][-1] == "batch", name


def test_both_ways_in_reach_the_backend_with_the_token_from_the_environment() -> None:
    config = load(OTELCOL_YAML)
    assert {tuple(p["receivers"]) for p in pipelines().values()} == {("otlp",), ("prometheus",)}
    for pipeline in pipelines().values():
        [exporter_name] = pipeline["exporters"]
        exporter = config["exporters"][exporter_name]
        assert exporter_name.startswith("otlphttp")
        assert exporter["endpoint"] == "${env:HOSTPULSE_BACKEND_URL}"
        assert exporter["headers"]["Authorization"] == "Bearer ${env:HOSTPULSE_AGENT_TOKEN}"


def test_the_prometheus_receiver_scrapes_agents_and_names_the_host() -> None:
    config = load(OTELCOL_YAML)
    [scrape] = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert all(t.endswith(":9860") for g in scrape["static_configs"] for t in g["targets"])
    [host] = [r for r in scrape["relabel_configs"] if r["target_label"] == "host_name"]
    # The backend takes the host from the resource attribute host.name.
    resource = config["processors"]["resource/host"]["attributes"]
    assert {"key": "host.name", "from_attribute": "host_name", "action": "upsert"} in resource
    assert config["processors"]["groupbyattrs/host"]["keys"] == ["host_name"]
    assert host["replacement"] == "$$1", "a single $ would be expanded by the Collector"


def test_no_dollar_but_environment_references_or_escapes() -> None:
    """The Collector expands `$NAME`/`${NAME}` in its config: every `$` is `${env:…}` or `$$`."""
    for value in _strings(load(OTELCOL_YAML)):
        assert "$" not in re.sub(r"\$\{env:[A-Z_]+\}|\$\$", "", value), value


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [*_strings(k), *_strings(v)]]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = subprocess.run(
        [require_program("amtool"), "check-config", str(ALERTMANAGER_YML)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_routes_reach_a_defined_webhook_and_group_by_host() -> None:
    config = load(ALERTMANAGER_YML)
    receivers = {r["name"]: r for r in config["receivers"]}
    route = config["route"]
    assert "host_name" in route["group_by"]
    for name in [route["receiver"], *(r["receiver"] for r in route.get("routes", []))]:
        [webhook] = receivers[name]["webhook_configs"]
        assert webhook["send_resolved"] is True
    severities = {alert["labels"]["severity"] for alert in alerts()}
    assert {m.split('"')[1] for r in route["routes"] for m in r["matchers"]} <= severities
