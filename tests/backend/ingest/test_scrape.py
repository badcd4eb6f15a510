"""Scraping: the pure exposition parser, and the Scraper against local HTTP servers (up 1/0)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backend.ingest.scrape import Scraper, ScrapeResult, instance_of, parse_exposition
from tests.backend.ingest.ingest_support import RecordingPipeline
from tests.conftest import free_port

EXPOSITION = """\
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.42
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/a\\"b"} 7
# TYPE lat histogram
lat_bucket{le="0.5"} 1
lat_bucket{le="+Inf"} 3
lat_sum 2.0
lat_count 3
# TYPE weird gauge
weird NaN
"""


@dataclass(frozen=True)
class Target:
    url: str
    interval: float = 0.2
    timeout: float = 2.0
    host: str | None = None


def test_parse_keeps_names_labels_and_adds_instance() -> None:
    samples = parse_exposition(EXPOSITION, host="web-1", instance="web-1:9100", time_ms=1000)
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}
    assert got[("node_load1", (("instance", "web-1:9100"),))] == 0.42
    key = ("http_requests_total", (("code", "200"), ("instance", "web-1:9100"), ("path", '/a"b')))
    assert got[key] == 7
    assert got[("lat_bucket", (("instance", "web-1:9100"), ("le", "+Inf")))] == 3
    assert not any(name == "weird" for name, _ in got)  # NaN is not a storable value
    assert {s.host for s in samples} == {"web-1"}
    assert {s.time_ms for s in samples} == {1000}


def test_instance_defaults_the_port_by_scheme() -> None:
    assert instance_of("http://10.0.0.1:9100/metrics") == "10.0.0.1:9100"
    assert instance_of("https://example.org/metrics") == "example.org:443"


class _Handler(BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        body = EXPOSITION.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _SlowHandler(_Handler):
    delay = 3.0


class _GarbageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"this is {not] an exposition\n\x00\xff"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def exporter_url() -> Iterator[str]:
    yield from _serve(_Handler)


@pytest.fixture
def slow_url() -> Iterator[str]:
    yield from _serve(_SlowHandler)


async def test_scraper_records_up_for_live_dead_and_slow_targets(
    exporter_url: str, slow_url: str
) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/metrics"
    sink = RecordingPipeline()
    results: list[ScrapeResult] = []
    every_target_seen = asyncio.Event()

    def record(result: ScrapeResult) -> None:
        results.append(result)
        if len({r.url for r in results}) == 3:
            every_target_seen.set()

    scraper = Scraper(
        [Target(exporter_url, host="web-1"), Target(dead_url), Target(slow_url, timeout=0.5)],
        sink,
        on_result=record,
    )
    await scraper.start()
    try:
        await asyncio.wait_for(every_target_seen.wait(), 20)
    finally:
        await scraper.stop()

    up = {(s.host, s.labels["instance"]): s.value for s in sink.samples if s.name == "up"}
    assert up[("web-1", exporter_url.split("/")[2])] == 1.0
    assert up[(dead_url.split("/")[2], dead_url.split("/")[2])] == 0.0
    assert up[(slow_url.split("/")[2], slow_url.split("/")[2])] == 0.0
    assert any(s.name == "node_load1" and s.host == "web-1" for s in sink.samples)
    assert any(s.name == "scrape_duration_seconds" for s in sink.samples)
    assert {b.protocol for b in sink.batches} == {"scrape"}
    failed = [r for r in results if not r.up]
    assert failed
    assert all(r.error for r in failed)


async def test_scraper_keeps_going_when_the_sink_is_overloaded(exporter_url: str) -> None:
    sink = RecordingPipeline(overloaded=True)
    results: list[ScrapeResult] = []
    two_scrapes = asyncio.Event()

    def record(result: ScrapeResult) -> None:
        results.append(result)
        if len(results) >= 2:
            two_scrapes.set()

    scraper = Scraper([Target(exporter_url, interval=0.05)], sink, on_result=record)
    await scraper.start()
    try:
        await asyncio.wait_for(two_scrapes.wait(), 20)
    finally:
        await scraper.stop()
    assert len(results) >= 2


async def test_a_target_serving_garbage_is_down_not_a_crash() -> None:
    sink = RecordingPipeline()
    scraper = Scraper([], sink)
    await scraper.start()
    try:
        for url in _serve(_GarbageHandler):
            result = await scraper.scrape_once(Target(url))
    finally:
        await scraper.stop()
    assert not result.up
    assert result.error is not None
    assert "unparseable" in result.error
    assert [s.value for s in sink.samples if s.name == "up"] == [0.0]
