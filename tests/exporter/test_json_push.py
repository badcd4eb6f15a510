"""JSON push against a real HTTP server the test runs: outages, 429, refusals, overflow, spool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conventions.naming import Kind
from conventions.report_schema import load_report_schema
from exporter.agent_health import AgentHealth
from exporter.config import JsonPushConfig
from exporter.model import CollectorResult, Metric, Point, Snapshot
from exporter.options import JsonPushOptions
from exporter.sinks.json_push import JsonPushSink, backoff_delay, parse_retry_after
from exporter.spool import Spool, SpoolState
from tests.conftest import free_port

SCHEMA = load_report_schema()
TOKEN = "test-token-123"
# (status, extra headers) for one request; the default answers 200.
Responder = Callable[[dict[str, Any]], tuple[int, dict[str, str]]]


class Receiver:
    """A local ingest endpoint: records every request, answers what `responder` says."""

    def __init__(self, port: int, responder: Responder | None = None) -> None:
        self.port = port
        self.responder: Responder = responder or (lambda _batch: (200, {}))
        self.requests: list[tuple[float, int, dict[str, Any], dict[str, str]]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest/metrics"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                batch = json.loads(body)
                status, headers = receiver.responder(batch)
                with receiver.lock:
                    receiver.requests.append((time.monotonic(), status, batch, dict(self.headers)))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = None

    def accepted_seqs(self) -> list[int]:
        with self.lock:
            return [
                report["seq"]
                for _, status, batch, _ in self.requests
                if status < 300
                for report in batch["reports"]
            ]

    def batches(self) -> list[dict[str, Any]]:
        with self.lock:
            return [batch for _, status, batch, _ in self.requests if status < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    server.start()
    yield server
    server.stop()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def make_snapshot(value: float = 0.25) -> Snapshot:
    cpu = Metric(
        "system.cpu.utilization", "1", Kind.GAUGE, "", [Point(value, {"cpu.logical_number": "0"})]
    )
    return Snapshot(
        timestamp=time.time(),
        host_name="test-host",
        host_id="0f1e2d",
        results=[CollectorResult("cpu", [cpu], 0.001, True)],
    )


def push_config(url: str, **changes: Any) -> JsonPushOptions:
    settings: dict[str, Any] = {
        "enabled": True,
        "url": url,
        "token": TOKEN,
        "timeout": "2s",
        "backoff_initial": "50ms",
        "backoff_max": "500ms",
    }
    settings.update(changes)
    return JsonPushConfig(**settings).options()


def make_sink(config: JsonPushOptions, health: AgentHealth | None = None) -> JsonPushSink:
    return JsonPushSink(config, health=health or AgentHealth(), agent_version="0.1.0")


def test_reports_arrive_with_token_in_order_and_valid(receiver: Receiver) -> None:
    health = AgentHealth()
    sink = make_sink(push_config(receiver.url), health)
    sink.start()
    for i in range(5):
        sink.submit(make_snapshot(i / 10))
    sink.shutdown(10)
    assert receiver.accepted_seqs() == [1, 2, 3, 4, 5]
    for _, _, batch, headers in receiver.requests:
        jsonschema.validate(batch, SCHEMA)
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["Content-Type"] == "application/json"
    assert health.counts().reports_sent == 5
    assert health.counts().reports_buffered == 0


def test_retry_after_on_429_is_honoured(receiver: Receiver) -> None:
    answers: Iterator[tuple[int, dict[str, str]]] = iter([(429, {"Retry-After": "2"})])
    receiver.responder = lambda _batch: next(answers, (200, {}))
    health = AgentHealth()
    sink = make_sink(push_config(receiver.url), health)  # its own backoff would be <= 0.5 s
    sink.start()
    sink.submit(make_snapshot())
    wait_for(lambda: len(receiver.requests) >= 2, 20, "the retry after the 429")
    sink.shutdown(5)
    (first, status1, _, _), (second, status2, _, _) = receiver.requests[:2]
    assert (status1, status2) == (429, 200)
    assert second - first >= 1.9, "the retry came before Retry-After allowed it"
    assert receiver.accepted_seqs() == [1]
    assert health.counts().send_failures == 1


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after("7", now) == 7
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1.5)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    import random

    rng = random.Random(1)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (3, 8.0), (10, 60.0), (500, 60.0)]:
        delays = [backoff_delay(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not fixed
        assert min(delays) < ceiling * 0.2


def test_refused_batch_is_dropped_counted_and_logged_once(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    answers: Iterator[tuple[int, dict[str, str]]] = iter([(401, {}), (401, {})])
    receiver.responder = lambda _batch: next(answers, (200, {}))
    health = AgentHealth()
    sink = make_sink(push_config(receiver.url), health)
    sink.start()
    sink.submit(make_snapshot())
    wait_for(lambda: len(receiver.requests) == 1, 10, "the first request")
    sink.submit(make_snapshot())
    wait_for(lambda: len(receiver.requests) == 2, 10, "the second request")
    sink.submit(make_snapshot())
    wait_for(lambda: receiver.accepted_seqs() == [3], 10, "the third report")
    sink.shutdown(5)
    counts = health.counts()
    assert (counts.reports_dropped, counts.reports_sent) == (2, 1)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1


def test_full_buffer_drops_the_oldest_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens here yet: the backend is down
    down = Receiver(port)
    health = AgentHealth()
    sink = make_sink(push_config(down.url, buffer_capacity=5), health)
    sink.start()
    for _ in range(12):
        sink.submit(make_snapshot())
    assert health.counts().reports_dropped == 7
    assert health.counts().reports_buffered == 5
    overflow_lines = [r for r in caplog.records if "buffer full" in r.getMessage()]
    assert len(overflow_lines) == 1, "one log line per outage, not one per dropped report"
    down.start()
    try:
        wait_for(lambda: down.accepted_seqs() == [8, 9, 10, 11, 12], 20, "the newest five")
    finally:
        sink.shutdown(5)
        down.stop()


def test_spooled_reports_survive_a_restart(tmp_path: Path) -> None:
    port = free_port()
    backend = Receiver(port)
    config = push_config(backend.url, spool_dir=tmp_path / "spool")
    first = make_sink(config)
    first.start()
    for _ in range(4):
        first.submit(make_snapshot())
    first.shutdown(0.2)  # the backend is down: the reports stay on disk

    backend.start()
    try:
        second = make_sink(config)
        second.start()
        second.submit(make_snapshot())
        wait_for(lambda: backend.accepted_seqs() == [1, 2, 3, 4, 5], 20, "spooled reports")
        second.shutdown(5)
        instance_ids = {batch["agent"]["instance_id"] for batch in backend.batches()}
        assert instance_ids == {first.agent.instance_id} == {second.agent.instance_id}
    finally:
        backend.stop()
    third = make_sink(config)  # nothing left to resend, but seq goes on from where it was
    third.start()
    assert third.agent.instance_id == first.agent.instance_id
    third.shutdown(0)
    assert not list((tmp_path / "spool").glob("0*.json"))


@pytest.mark.slow
def test_backend_away_for_30s_receives_everything_in_order_once(receiver: Receiver) -> None:
    health = AgentHealth()
    sink = make_sink(push_config(receiver.url, backoff_max="2s", max_batch=50), health)
    sink.start()
    submitted = 0
    stop_feeding = threading.Event()

    def feed() -> None:
        nonlocal submitted
        while not stop_feeding.wait(0.1):
            sink.submit(make_snapshot())
            submitted += 1

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        wait_for(lambda: len(receiver.accepted_seqs()) >= 5, 10, "reports before the outage")
        receiver.stop()
        time.sleep(30)  # the outage itself is what is under test
        assert health.counts().send_failures > 0
        receiver.start()
        wait_for(lambda: len(receiver.accepted_seqs()) >= submitted - 5, 30, "the catch-up")
    finally:
        stop_feeding.set()
        feeder.join()
        sink.shutdown(10)
    seqs = receiver.accepted_seqs()
    assert seqs == list(range(1, submitted + 1)), "every report, in order, none duplicated"
    assert max(len(batch["reports"]) for batch in receiver.batches()) > 1, "catch-up is batched"
    assert health.counts().reports_dropped == 0


def test_sigterm_flushes_buffered_reports_and_exits_0(receiver: Receiver, tmp_path: Path) -> None:
    failed_seqs: list[int] = []
    backend_up = threading.Event()

    def responder(batch: dict[str, Any]) -> tuple[int, dict[str, str]]:
        if backend_up.is_set():
            return 200, {}
        failed_seqs.extend(report["seq"] for report in batch["reports"])
        return 503, {"Retry-After": "120"}  # the agent would wait 2 minutes on its own

    receiver.responder = responder
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    disabled = [
        a for n in ("cpu", "disk", "network", "handles") for a in ("--disable-collector", n)
    ]
    agent = subprocess.Popen(
        [
            sys.executable, "-m", "exporter.cli",
            "--backend-url", receiver.url, "--token-file", str(token_file),
            "--interval", "200ms", "--no-prometheus", "--log-format", "json", *disabled,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "HOSTPULSE_SHUTDOWN_DEADLINE": "10s"},
    )  # fmt: skip
    try:
        wait_for(lambda: bool(failed_seqs), 30, "the first (refused) push")
        time.sleep(1.5)  # more reports pile up in the buffer behind the Retry-After
        backend_up.set()
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate()
    assert agent.returncode == 0, stderr.decode()
    delivered = receiver.accepted_seqs()
    assert delivered == list(range(1, len(delivered) + 1))
    assert len(delivered) >= 3
    assert set(failed_seqs) <= set(delivered)
    for batch in receiver.batches():
        jsonschema.validate(batch, SCHEMA)
    events = [json.loads(line)["event"] for line in stderr.decode().splitlines()]
    assert events[-1] == "agent stopped"


def test_the_spool_is_written_by_the_sender_even_while_it_backs_off(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[str] = []
    write_file = Spool._write_file

    def recording_write(path: Path, body: bytes) -> None:
        writers.append(threading.current_thread().name)
        write_file(path, body)

    monkeypatch.setattr(Spool, "_write_file", staticmethod(recording_write))
    receiver.responder = lambda _batch: (503, {"Retry-After": "3600"})  # parks the sender
    spool = tmp_path / "spool"
    sink = make_sink(push_config(receiver.url, spool_dir=spool))
    sink.start()
    writers.clear()  # start() writes the state file: that is not the collection thread
    try:
        sink.submit(make_snapshot())
        wait_for(lambda: len(receiver.requests) == 1, 20, "the first attempt")
        for _ in range(3):  # submitted while the sender waits out Retry-After
            sink.submit(make_snapshot())
        wait_for(lambda: len(list(spool.glob("0*.json"))) == 4, 20, "all reports on disk")
        assert len(receiver.requests) == 1, "writing the spool must not cut the backoff short"
    finally:
        sink.shutdown(0.2)
    assert set(writers) == {"json-push"}, "the collection thread must never write the spool"
    assert sorted(p.name for p in spool.glob("0*.json")) == [f"{n:020d}.json" for n in (1, 2, 3, 4)]


def test_shutdown_writes_what_the_sender_has_not(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    sink = make_sink(push_config("http://127.0.0.1:9/ingest/metrics", spool_dir=spool))
    sink.start()
    sink._stop.set()  # a sender that never gets to run again
    sink._interrupt()
    for _ in range(3):
        sink.submit(make_snapshot())
    sink.shutdown(0.2)
    assert len(list(spool.glob("0*.json"))) == 3
    assert Spool(spool).read_state() == SpoolState(sink.agent.instance_id, 3)


def test_real_agent_restart_resends_the_spool(tmp_path: Path) -> None:
    backend = Receiver(free_port())  # not started yet: the backend is down
    spool = tmp_path / "spool"
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    command = [
        sys.executable, "-m", "exporter.cli", "--backend-url", backend.url,
        "--token-file", str(token_file), "--spool-dir", str(spool), "--interval", "200ms",
        "--no-prometheus", "--shutdown-deadline", "500ms", "--disable-collector", "processes",
    ]  # fmt: skip

    def run_until(condition: Callable[[], bool], what: str) -> None:
        agent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(condition, 30, what)
            agent.send_signal(signal.SIGTERM)
            _, stderr = agent.communicate(timeout=30)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.communicate()
        assert agent.returncode == 0, stderr.decode()

    def spooled() -> list[Path]:
        return sorted(spool.glob("0*.json"))

    run_until(lambda: len(spooled()) >= 3, "reports in the spool")
    before_restart = len(spooled())
    backend.start()
    try:
        run_until(lambda: len(backend.accepted_seqs()) > before_restart, "the spooled reports")
    finally:
        backend.stop()
    seqs = backend.accepted_seqs()
    assert seqs == list(range(1, len(seqs) + 1))
    assert len({batch["agent"]["instance_id"] for batch in backend.batches()}) == 1


def test_a_413_halves_the_batch_instead_of_dropping_reports() -> None:
    backend = Receiver(free_port())
    backend.responder = lambda batch: (413, {}) if len(batch["reports"]) > 2 else (200, {})
    health = AgentHealth()
    sink = make_sink(push_config(backend.url, max_batch=8), health)
    sink.start()
    for _ in range(8):
        sink.submit(make_snapshot())  # the backend is down: they pile up
    backend.start()
    try:
        wait_for(lambda: backend.accepted_seqs() == list(range(1, 9)), 20, "all eight reports")
    finally:
        sink.shutdown(5)
        backend.stop()
    assert health.counts().reports_dropped == 0
