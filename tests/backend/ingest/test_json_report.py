"""The agent's JSON format → samples (pure translator), and POST /ingest/metrics end to end."""

from __future__ import annotations

import copy
import gzip
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from backend.ingest import json_report, report_schema_check
from backend.ingest.limits import IngestError, IngestLimits
from backend.settings import BackendSettings
from conventions.report_schema import load_report_schema
from tests.backend.ingest.ingest_support import (
    BOOTSTRAP_TOKEN,
    IngestHarness,
    RecordingPipeline,
    build_app,
    now_ms,
)
from tests.conftest import free_port

LIMITS = IngestLimits()


def translate(document: dict[str, Any]) -> list[json_report.TranslatedReport]:
    report_schema_check.validate_document(document)
    return json_report.translate_document(document, now_ms=now_ms(), limits=LIMITS)


def test_names_follow_the_otel_to_prometheus_rules(make_document: Any) -> None:
    doc = make_document(time_ms=1_790_000_000_000)
    [report] = json_report.translate_document(doc, now_ms=1_790_000_000_000, limits=LIMITS)
    by_name = {(s.name, tuple(sorted(s.labels.items()))): s for s in report.samples}
    assert by_name[("system_cpu_utilization_ratio", (("cpu_logical_number", "0"),))].value == 0.25
    # Counters keep the cumulative value the agent sent.
    assert by_name[("system_cpu_time_seconds_total", (("cpu_mode", "user"),))].value == 1234.5
    assert by_name[("system_memory_usage_bytes", (("system_memory_state", "used"),))].value == 1e9
    assert by_name[("hostpulse_collector_success", (("collector", "cpu"),))].value == 1.0
    assert {s.host for s in report.samples} == {"web-1"}
    assert {s.time_ms for s in report.samples} == {1_790_000_000_000}
    assert (report.instance_id, report.seq) == ("inst-1", 1)


def test_processes_become_one_snapshot_verbatim(make_document: Any) -> None:
    doc = make_document()
    doc["reports"][0]["processes"][0]["name"] = "naïve 'worker'; DROP TABLE series;--"
    [report] = translate(doc)
    assert report.snapshot is not None
    assert report.snapshot.host == "web-1"
    assert report.snapshot.processes[0]["name"] == "naïve 'worker'; DROP TABLE series;--"
    assert report.snapshot.processes[0]["open_fds"] == 7


@pytest.mark.parametrize(
    ("mutate", "status", "field"),
    [
        (lambda d: d["reports"][0]["metrics"][0].update(type="histogram"), 422, "type"),
        (lambda d: d["reports"][0]["metrics"][1]["points"][1].update(value="12"), 422, "value"),
        (lambda d: d["reports"][0].update(seq="1"), 422, "seq"),
        (lambda d: d["reports"][0]["host"].pop("name"), 422, "host"),
        (lambda d: d.update(schema_version=2), 422, "schema_version"),
        (lambda d: d["reports"][0].update(timestamp="yesterday"), 422, "timestamp"),
        (lambda d: d.update(reports=[]), 422, "reports"),
    ],
)
def test_wrong_types_name_the_field(
    make_document: Any, mutate: Any, status: int, field: str
) -> None:
    doc = make_document()
    mutate(doc)
    with pytest.raises(IngestError) as caught:
        translate(doc)
    assert caught.value.status == status
    assert field in caught.value.detail


def test_translator_checks_types_even_without_the_schema(make_document: Any) -> None:
    doc = make_document()
    doc["reports"][0]["metrics"][0]["points"][0]["value"] = True
    with pytest.raises(IngestError, match=r"reports\[0\]\.metrics\[0\]\.points\[0\]\.value"):
        json_report.translate_document(doc, now_ms=now_ms(), limits=LIMITS)


def test_timestamps_outside_the_window_are_refused(make_document: Any) -> None:
    for offset in (3600_000, -400 * 86_400_000):
        doc = make_document(time_ms=now_ms() + offset)
        with pytest.raises(IngestError, match=r"reports\[0\]\.timestamp") as caught:
            translate(doc)
        assert caught.value.status == 422


def test_malformed_json_and_nan_are_400_with_a_reason() -> None:
    with pytest.raises(IngestError, match="malformed JSON"):
        json_report.parse_json(b'{"schema_version": 1,')
    with pytest.raises(IngestError, match="finite"):
        json_report.parse_json(b'{"value": NaN}')


async def test_post_stores_samples_and_snapshots(
    light_harness: IngestHarness, make_document: Any
) -> None:
    response = await light_harness.client.post(
        "/ingest/metrics", json=make_document(reports=2), headers=light_harness.auth()
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted_reports": 2, "duplicate_reports": 0, "samples": 12}
    [batch] = light_harness.pipeline.batches
    assert batch.protocol == "json"
    assert len(batch.samples) == 12
    assert len(batch.process_snapshots) == 2


async def test_a_retried_batch_is_acknowledged_but_not_stored_twice(
    light_harness: IngestHarness, make_document: Any
) -> None:
    doc = make_document(seq=10, reports=2)
    first = await light_harness.client.post(
        "/ingest/metrics", json=doc, headers=light_harness.auth()
    )
    assert first.json()["accepted_reports"] == 2
    # The retry overlaps: seq 11 was stored, seq 12 is new.
    retry = make_document(seq=11, reports=2)
    second = await light_harness.client.post(
        "/ingest/metrics", json=retry, headers=light_harness.auth()
    )
    assert second.status_code == 200
    assert second.json()["accepted_reports"] == 1
    assert second.json()["duplicate_reports"] == 1
    assert len(light_harness.pipeline.batches) == 2
    assert len(light_harness.pipeline.batches[1].process_snapshots) == 1


async def test_overloaded_is_503_with_retry_after_and_the_retry_is_not_deduplicated(
    light_harness: IngestHarness, make_document: Any
) -> None:
    doc = make_document(seq=5)
    light_harness.pipeline.overloaded = True
    refused = await light_harness.client.post(
        "/ingest/metrics", json=doc, headers=light_harness.auth()
    )
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "3"
    assert "detail" in refused.json()
    light_harness.pipeline.overloaded = False
    retried = await light_harness.client.post(
        "/ingest/metrics", json=doc, headers=light_harness.auth()
    )
    assert retried.json()["accepted_reports"] == 1
    assert len(light_harness.pipeline.batches) == 1


async def test_schema_violation_is_422_and_nothing_is_stored(
    light_harness: IngestHarness, make_document: Any
) -> None:
    doc = make_document()
    bad = copy.deepcopy(doc)
    bad["reports"][0]["metrics"][0]["points"][0]["attributes"]["cpu"] = 5
    response = await light_harness.client.post(
        "/ingest/metrics", content=orjson.dumps(bad), headers=light_harness.auth()
    )
    assert response.status_code == 422
    assert "reports[0].metrics[0].points[0].attributes" in response.json()["detail"]
    assert light_harness.pipeline.batches == []


def test_the_pure_python_fallback_names_the_same_field(make_document: Any) -> None:
    check = report_schema_check.python_check(load_report_schema())
    doc = make_document()
    assert check(doc) is None
    doc["reports"][0]["seq"] = "7"
    problem = check(doc)
    assert problem is not None
    assert problem[0] == ["reports", 0, "seq"]


async def test_with_redis_down_reports_are_accepted_without_duplicate_check(
    make_document: Any, redis_prefix: str
) -> None:
    dead_redis = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    settings = BackendSettings(
        database_url="postgresql://unused@127.0.0.1:1/unused",
        redis_prefix=redis_prefix,
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
    )
    pipeline = RecordingPipeline()
    app = build_app(settings, None, dead_redis, pipeline)
    transport = httpx.ASGITransport(app=app)
    auth = {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
        for _ in range(3):
            response = await client.post("/ingest/metrics", json=make_document(), headers=auth)
            assert response.status_code == 200, response.text
            assert response.json()["accepted_reports"] == 1
    await dead_redis.aclose()
    assert len(pipeline.batches) == 3  # at-least-once while the duplicate check is away


def test_the_schema_checked_fast_path_translates_identically(make_document: Any) -> None:
    doc = make_document(reports=3)
    doc["reports"][1]["metrics"][0]["points"][0]["attributes"]["naïve.key"] = "ü'; --"
    assert report_schema_check.validate_document(doc)
    assert not report_schema_check.may_contain_nul(orjson.dumps(doc))
    now = now_ms()
    slow = json_report.translate_document(doc, now_ms=now, limits=LIMITS)
    fast = json_report.translate_document(doc, now_ms=now, limits=LIMITS, shape_checked=True)
    assert fast == slow


def test_a_hosts_repeated_report_shape_reuses_its_series_and_reads_the_new_values(
    make_document: Any,
) -> None:
    limits = IngestLimits(max_label_value_length=64)  # its own renderer, so its own shape cache
    now = now_ms()

    def both_ways(doc: dict[str, Any]) -> list[json_report.TranslatedReport]:
        assert report_schema_check.validate_document(doc)
        fast = json_report.translate_document(doc, now_ms=now, limits=limits, shape_checked=True)
        assert fast == json_report.translate_document(doc, now_ms=now, limits=limits)
        return fast

    first = make_document()
    again = copy.deepcopy(first)
    for metric in again["reports"][0]["metrics"]:
        for point in metric["points"]:
            point["value"] = point["value"] + 7
    [one], [two] = both_ways(first), both_ways(again)
    assert [s.value + 7 for s in one.samples][:-2] == [s.value for s in two.samples][:-2]
    changed = copy.deepcopy(again)
    changed["reports"][0]["metrics"][0]["points"][0]["attributes"]["extra"] = "x"
    del changed["reports"][0]["metrics"][-1]
    both_ways(changed)  # a new shape: translated metric by metric, identically
    too_long = copy.deepcopy(again)
    too_long["reports"][0]["metrics"][0]["points"][0]["attributes"]["extra"] = "x" * 65
    with pytest.raises(IngestError) as refused:  # still checked against the limits
        json_report.translate_document(too_long, now_ms=now, limits=limits, shape_checked=True)
    assert "metrics[0].points[0].attributes" in refused.value.detail


def test_a_nul_anywhere_is_visible_in_the_raw_body(make_document: Any) -> None:
    doc = make_document()
    doc["reports"][0]["processes"][0]["name"] = "a\x00b"
    assert report_schema_check.may_contain_nul(orjson.dumps(doc))


async def test_gzip_encoded_reports_are_accepted(
    light_harness: IngestHarness, make_document: Any
) -> None:
    response = await light_harness.client.post(
        "/ingest/metrics",
        content=gzip.compress(orjson.dumps(make_document())),
        headers={**light_harness.auth(), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted_reports"] == 1


async def test_the_lean_json_route_keeps_route_metrics_and_the_openapi_entry(
    redis_client: aioredis.Redis, redis_prefix: str, make_document: Any
) -> None:
    from backend.self_metrics import BackendMetrics, RequestMetricsMiddleware

    settings = BackendSettings(
        database_url="postgresql://unused@127.0.0.1:1/unused",
        redis_prefix=redis_prefix,
        bootstrap_agent_token=SecretStr(BOOTSTRAP_TOKEN),
    )
    app = build_app(settings, None, redis_client, RecordingPipeline())
    metrics = BackendMetrics()
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    auth = {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ingest.test"
    ) as client:
        ok = await client.post(
            "/ingest/metrics", content=orjson.dumps(make_document()), headers=auth
        )
        refused = await client.post("/ingest/metrics", content=b"{}")

    assert ok.status_code == 200, ok.text
    assert ok.headers["content-type"] == "application/json"
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    exposition = metrics.exposition(None)[0].decode()
    for status in ("200", "401"):
        assert f'status_code="{status}",http_route="/ingest/metrics"}} 1.0' in exposition
    operation = app.openapi()["paths"]["/ingest/metrics"]["post"]
    assert operation["security"]  # the bearer scheme is still documented
