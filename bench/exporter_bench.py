"""HostPulse exporter vs node_exporter vs process-exporter: CPU per cycle and RSS, 1,000 processes.

Run: `.venv/bin/python bench/exporter_bench.py` (as any user; ~3 minutes). It starts 1,000 idle
`sleep` children, then, one after the other on that same population:
  0. in-process: every collector's collect() plus the Prometheus exposition, timed with
     time.process_time (no HTTP, no threads);
  1. the real agent (`hostpulse-exporter --config CFG`), Prometheus output only: its CPU per
     collection cycle including one /metrics scrape per cycle, from /proc/<pid>/stat;
  2. the same with all three outputs on (OTLP http/protobuf and JSON push to dummy local HTTP
     sinks): CPU per cycle and resident memory;
  3. Debian's prometheus-node-exporter and 4. prometheus-process-exporter (every process tracked
     by name): CPU per scrape.
CPU is read as utime+stime over windows of several cycles (the kernel counts in 10 ms ticks), and
each window gives one per-cycle sample; the summary prints median/min/max, ratios and the targets.
Everything it starts is stopped in `finally` blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

CPU_TARGET_MS = 16.0
RSS_TARGET_MB = 40.0
HZ = os.sysconf("SC_CLK_TCK")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _AcceptAll(BaseHTTPRequestHandler):
    """A dummy OTLP/HTTP and JSON-push receiver: reads the body, answers 200."""

    received: ClassVar[dict[str, int]] = {}  # path -> requests, to show the outputs really ran

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received[self.path] = self.received.get(self.path, 0) + 1
        protobuf = self.path.endswith("/v1/metrics")
        body = b"" if protobuf else b"{}"
        self.send_response(200)
        self.send_header(
            "Content-Type", "application/x-protobuf" if protobuf else "application/json"
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def dummy_sink() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _AcceptAll)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def idle_processes(count: int) -> Iterator[None]:
    children: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            children.append(subprocess.Popen(["sleep", "3600"]))
        yield
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


def scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


@contextlib.contextmanager
def running(command: list[str], metrics_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}; see {log}")
            with contextlib.suppress(OSError):
                if scrape(metrics_url):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not serve {metrics_url} within 30 s")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int) -> float:
    data = Path(f"/proc/{pid}/stat").read_bytes()
    fields = data[data.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_per_cycle(pid: int, url: str, windows: int, per_window: int, spacing: float) -> list[float]:
    """Milliseconds of CPU per cycle, one sample per window of `per_window` scrapes."""
    scrape(url)
    samples = []
    for _ in range(windows):
        before = cpu_seconds(pid)
        for _ in range(per_window):
            started = time.monotonic()
            scrape(url)
            time.sleep(max(0.0, spacing - (time.monotonic() - started)))
        samples.append((cpu_seconds(pid) - before) / per_window * 1000)
    return samples


def in_process_cycle_ms(cycles: int) -> list[float]:
    """collect() of every collector plus generate_latest(), timed inside this process."""
    from prometheus_client import generate_latest

    from exporter.collectors.registry import build_collectors
    from exporter.config import AgentConfig
    from exporter.model import CollectorResult, Snapshot
    from exporter.sinks.prometheus import build_registry

    scheduled = build_collectors(AgentConfig().options())
    latest: list[Snapshot | None] = [None]
    registry = build_registry(lambda: latest[0])
    samples = []
    for cycle in range(cycles + 2):
        started = time.process_time()
        results = []
        for item in scheduled:
            output = item.collector.collect()
            results.append(
                CollectorResult(
                    item.collector.name, output.metrics, 0.0, True, None, output.processes
                )
            )
        latest[0] = Snapshot(time.time(), "bench", "bench", results)
        generate_latest(registry)
        if cycle >= 2:  # the first cycles set up descriptors and caches
            samples.append((time.process_time() - started) * 1000)
        time.sleep(0.2)
    return samples


def agent_config(directory: Path, port: int, sink_port: int | None, interval: float) -> Path:
    lines = [
        f"interval: {interval}s",
        "log_format: text",
        f"prometheus: {{listen: '127.0.0.1:{port}'}}",
    ]
    if sink_port is not None:
        base = f"http://127.0.0.1:{sink_port}"
        otlp = f"enabled: true, protocol: http/protobuf, endpoint: '{base}', interval: {interval}s"
        lines += [
            f"otlp: {{{otlp}}}",
            f"json_push: {{enabled: true, url: '{base}/ingest/metrics', token: bench-token}}",
        ]
    path = directory / ("agent-all.yaml" if sink_port else "agent-prometheus.yaml")
    path.write_text("\n".join(lines) + "\n")
    return path


def summary(name: str, samples: list[float]) -> str:
    return (
        f"{name:<44} median {statistics.median(samples):7.2f}  min {min(samples):7.2f}  "
        f"max {max(samples):7.2f}  ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--windows", type=int, default=6, help="samples per measurement")
    parser.add_argument("--per-window", type=int, default=5, help="cycles/scrapes per sample")
    parser.add_argument("--interval", type=float, default=1.0, help="agent collection interval (s)")
    parser.add_argument(
        "--scrape-spacing", type=float, default=0.5, help="for the Go exporters (s)"
    )
    args = parser.parse_args()
    agent = (
        shutil.which("hostpulse-exporter", path=str(Path(sys.executable).parent))
        or "hostpulse-exporter"
    )
    node_exporter = shutil.which("prometheus-node-exporter")
    process_exporter = shutil.which("prometheus-process-exporter")
    results: dict[str, list[float]] = {}
    rss: dict[str, float] = {}  # VmRSS per agent phase, MB
    with tempfile.TemporaryDirectory(prefix="hostpulse-bench-") as tmp:
        directory = Path(tmp)
        progress(f"starting {args.processes} idle processes")
        with idle_processes(args.processes):
            total = sum(1 for name in os.listdir("/proc") if name.isdigit())
            progress(f"{total} processes on the host; phase 0: in-process collect + exposition")
            results["hostpulse in-process (collect+exposition)"] = in_process_cycle_ms(
                args.windows * args.per_window
            )
            with dummy_sink() as sink_port:
                for label, sinks in (("prometheus only", None), ("all three outputs", sink_port)):
                    port = free_port()
                    config = agent_config(directory, port, sinks, args.interval)
                    url = f"http://127.0.0.1:{port}/metrics"
                    progress(f"phase: hostpulse-exporter, {label}")
                    with running(
                        [agent, "--config", str(config)], url, directory / "agent.log"
                    ) as proc:
                        results[f"hostpulse-exporter per cycle ({label})"] = cpu_per_cycle(
                            proc.pid, url, args.windows, args.per_window, args.interval
                        )
                        rss[label] = rss_mb(proc.pid)
                        progress(f"hostpulse-exporter ({label}) RSS: {rss[label]:.1f} MB")
                progress(f"requests received by the dummy sinks: {_AcceptAll.received}")
            if node_exporter:
                port = free_port()
                url = f"http://127.0.0.1:{port}/metrics"
                progress("phase: prometheus-node-exporter")
                command = [node_exporter, f"--web.listen-address=127.0.0.1:{port}"]
                with running(command, url, directory / "node.log") as proc:
                    results["node_exporter per scrape"] = cpu_per_cycle(
                        proc.pid, url, args.windows, args.per_window * 2, args.scrape_spacing
                    )
            if process_exporter:
                port = free_port()
                url = f"http://127.0.0.1:{port}/metrics"
                config = directory / "process-exporter.yaml"
                config.write_text('process_names:\n  - name: "{{.Comm}}"\n    cmdline: [".+"]\n')
                progress("phase: prometheus-process-exporter (all processes by name)")
                command = [
                    process_exporter,
                    "-config.path",
                    str(config),
                    "-web.listen-address",
                    f"127.0.0.1:{port}",
                ]
                with running(command, url, directory / "process.log") as proc:
                    results["process-exporter per scrape"] = cpu_per_cycle(
                        proc.pid, url, args.windows, args.per_window * 2, args.scrape_spacing
                    )
    progress("done; all children stopped")
    return report(results, rss, total)


# The side-by-side anchors: result name -> the Debian package that provides the program.
_ANCHORS = {
    "node_exporter per scrape": "prometheus-node-exporter",
    "process-exporter per scrape": "prometheus-process-exporter",
}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(results: dict[str, list[float]], rss: dict[str, float], total: int) -> int:
    print(f"\nCPU at {total} processes, {os.cpu_count()} CPUs (utime+stime; phase 0: process_time)")
    for name, samples in results.items():
        print(summary(name, samples))
    ours = statistics.median(results["hostpulse-exporter per cycle (prometheus only)"])
    for name, package in _ANCHORS.items():
        if name in results:
            print(
                f"ratio {name} / hostpulse-exporter: {statistics.median(results[name]) / ours:.1f}x"
            )
        else:
            print(f"{name}: NOT MEASURED, not installed (apt-get install {package})")
    for label, megabytes in rss.items():
        print(f"hostpulse-exporter resident memory ({label}): {megabytes:.1f} MB")
    all_outputs = rss.get("all three outputs", float("nan"))
    cpu_ok, rss_ok = ours <= CPU_TARGET_MS, all_outputs <= RSS_TARGET_MB
    print(f"target CPU <= {CPU_TARGET_MS:.0f} ms/cycle: {ours:.2f} ms -> {verdict(cpu_ok)}")
    print(
        f"target RSS <= {RSS_TARGET_MB:.0f} MB, all outputs on: {all_outputs:.1f} MB "
        f"-> {verdict(rss_ok)}"
    )
    return 0 if cpu_ok and rss_ok else 1


if __name__ == "__main__":
    sys.exit(main())
