"""`hostpulse-dashboard` as `hostpulse up` starts it: --host, --port, --backend-url."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dashboards.cli import main
from tests.conftest import free_port

SCRIPT = Path(sys.executable).with_name("hostpulse-dashboard")


def test_a_bad_backend_url_stops_start_up_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--backend-url", "localhost:8000"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("hostpulse-dashboard: backend_url:")
    assert "\n" not in error


def test_a_bad_port_is_refused() -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--port", "70000"])
    assert stopped.value.code == 2


def test_serves_the_ui_and_its_backend_url() -> None:
    port = free_port()
    backend = "http://127.0.0.1:9"
    process = subprocess.Popen(
        [str(SCRIPT), "--host", "127.0.0.1", "--port", str(port), "--backend-url", backend]
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/config.json", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, "hostpulse-dashboard exited"
                assert time.monotonic() < deadline, "hostpulse-dashboard did not answer"
                time.sleep(0.1)
        assert answer.json() == {"backend_url": backend}
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        process.terminate()
        # uvicorn shuts down gracefully, then re-raises SIGTERM as its exit status.
        assert process.wait(15) in (0, -signal.SIGTERM)
