"""The agent's resident memory with every output over TLS, against the 40 MB target.

Run: `.venv/bin/python bench/exporter_tls_rss.py` (~1 minute; `--help` for the knobs). It makes a
CA, a server and a client certificate with the openssl commands of docs/tls.md, starts a local
HTTPS receiver (client certificate required) for OTLP/HTTP and JSON push, and runs the real
`hostpulse-exporter` three ways on the same process population:
  1. Prometheus output only, plain HTTP;
  2. all three outputs, plain HTTP;
  3. all three outputs over TLS: /metrics with `--web.config.file` (TLS + basic auth), OTLP and
     JSON push to https:// with ca_file and a client certificate.
Each phase scrapes /metrics once per cycle (over HTTPS with basic auth in phase 3) for `--cycles`
cycles, then reads VmRSS and VmHWM from /proc. It prints a table, the ratio of each figure to
the 40 MB anchor and PASS/FAIL for phase 3; exit status 0 only on PASS. Everything it starts is
stopped in `finally` blocks.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

from exporter_bench import _AcceptAll, free_port, idle_processes, progress

RSS_TARGET_MB = 40.0
REPO_ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "prometheus", "bench-password"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """The commands of docs/tls.md ("Making a CA and certificates")."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650", "-subj", "/CN=HostPulse CA",
            cwd=directory)  # fmt: skip
    for name, ext in (
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("agent", "extendedKeyUsage=clientAuth"),
    ):
        (directory / f"{name}.ext").write_text(ext + "\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
                cwd=directory)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "825",
                "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip


@contextlib.contextmanager
def tls_sink(directory: Path) -> Iterator[int]:
    """The dummy receiver of exporter_bench over HTTPS, requiring a client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    context.load_verify_locations(cafile=directory / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _AcceptAll)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def agent_config(
    directory: Path, port: int, sink_port: int | None, tls: bool, interval: float
) -> Path:
    lines = [
        f"interval: {interval}s",
        "log_format: text",
        "prometheus:",
        f"  listen: '127.0.0.1:{port}'",
    ]
    if tls:
        lines.append(f"  web_config_file: '{directory / 'web.yml'}'")
    if sink_port is not None:
        scheme = "https" if tls else "http"
        base = f"{scheme}://127.0.0.1:{sink_port}"
        files = (
            f"ca_file: '{directory / 'ca.crt'}', client_cert: '{directory / 'agent.crt'}', "
            f"client_key: '{directory / 'agent.key'}'"
            if tls
            else ""
        )
        sep = ", " if files else ""
        lines += [
            f"otlp: {{enabled: true, protocol: http/protobuf, endpoint: '{base}', "
            f"interval: {interval}s{sep}{files}}}",
            f"json_push: {{enabled: true, url: '{base}/ingest/metrics', token: bench-token"
            f"{sep}{files}}}",
        ]
    path = directory / f"agent-{port}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(command: list[str], url: str, context: ssl.SSLContext | None, cycles: int,
            interval: float, log: Path) -> tuple[float, float]:  # fmt: skip
    """(VmRSS, VmHWM) in MB after `cycles` scrapes one interval apart."""
    headers = {}
    if context is not None:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"

    def scrape() -> bytes:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return bytes(response.read())

    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the agent exited with {process.returncode}; see {log}")
            with contextlib.suppress(OSError):
                if b"process_cpu_utilization_ratio" in scrape():
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the agent did not serve {url} within 60 s; see {log}")
            time.sleep(0.3)
        for _ in range(cycles):
            started = time.monotonic()
            scrape()
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
        return status_mb(process.pid, "VmRSS"), status_mb(process.pid, "VmHWM")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=1000, help="idle children (1000)")
    parser.add_argument("--cycles", type=int, default=20, help="scrapes per phase (20)")
    parser.add_argument("--interval", type=float, default=1.0, help="collection interval (s)")
    args = parser.parse_args()
    if shutil.which("openssl") is None:
        print("openssl is needed to make the certificates (apt-get install openssl)")
        return 2
    import bcrypt

    # This checkout's agent (run from the repository root), as `hostpulse-exporter` runs it.
    command = [sys.executable, "-m", "exporter.cli"]
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hostpulse-tls-bench-") as tmp:
        directory = Path(tmp)
        make_certificates(directory)
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
        (directory / "web.yml").write_text(
            "tls_server_config:\n"
            f"  cert_file: {directory / 'server.crt'}\n  key_file: {directory / 'server.key'}\n"
            f"basic_auth_users:\n  {USER}: '{hashed}'\n"
        )
        client = ssl.create_default_context(cafile=str(directory / "ca.crt"))
        progress(f"starting {args.processes} idle processes")
        with idle_processes(args.processes), tls_sink(directory) as tls_port:
            plain_sink = contextlib.ExitStack()
            from exporter_bench import dummy_sink

            plain_port = plain_sink.enter_context(dummy_sink())
            with plain_sink:
                for label, sink, tls in (
                    ("prometheus only", None, False),
                    ("all three outputs", plain_port, False),
                    ("all three outputs over TLS", tls_port, True),
                ):
                    port = free_port()
                    config = agent_config(directory, port, sink, tls, args.interval)
                    scheme = "https" if tls else "http"
                    progress(f"phase: {label}")
                    before = dict(_AcceptAll.received)
                    results[label] = measure(
                        [*command, "--config", str(config)],
                        f"{scheme}://127.0.0.1:{port}/metrics",
                        client if tls else None,
                        args.cycles,
                        args.interval,
                        directory / f"agent-{port}.log",
                    )
                    received = {k: v - before.get(k, 0) for k, v in _AcceptAll.received.items()}
                    progress(f"{label}: VmRSS {results[label][0]:.1f} MB; received {received}")
                    if sink is not None and len([v for v in received.values() if v]) < 2:
                        raise RuntimeError(f"{label}: the pushes did not arrive ({received})")
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.processes} idle "
          "processes; anchor: the 40 MB target")  # fmt: skip
    print(f"{'phase':<30} {'VmRSS':>9} {'VmHWM':>9} {'RSS/anchor':>11}")
    for label, (rss, hwm) in results.items():
        print(f"{label:<30} {rss:6.1f} MB {hwm:6.1f} MB {rss / RSS_TARGET_MB:10.2f}x")
    tls_rss = results["all three outputs over TLS"][0]
    ok = tls_rss <= RSS_TARGET_MB
    print(f"target RSS <= {RSS_TARGET_MB:.0f} MB with all outputs over TLS: {tls_rss:.1f} MB -> "
          f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
