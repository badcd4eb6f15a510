"""Real processes for the fault tests: the backend (`python -m backend.cli serve`), agents
(`python -m exporter.cli` pushing JSON with a spool), and the evidence they leave in PostgreSQL.

Outage lengths come from HOSTPULSE_TEST_OUTAGE_SECONDS: 30 s as issue 15 asks in a full run,
8 s by default under CI=true, because the suite must stay within its ~15-minute budget and what
is checked (every report delivered once, 503 + Retry-After, recovery) depends on the agent's
backoff (capped at 2 s here) and the dedup heartbeat (8 s), not on the outage's length.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import asyncpg
import httpx
import pytest

from exporter.spool import Spool
from tests.conftest import free_port

TOKEN = "hp_system-tests-bootstrap-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[2]


def _append(path: Path) -> BinaryIO:
    """A process's log file (its stderr), appended to across restarts."""
    return path.open("ab")


def outage_seconds() -> float:
    """How long each injected outage lasts (see the module docstring for the defaults)."""
    raw = os.environ.get("HOSTPULSE_TEST_OUTAGE_SECONDS")
    if raw:
        return float(raw)
    return 8.0 if os.environ.get("CI") == "true" else 30.0


async def wait_until(
    check: Callable[[], Awaitable[bool]], within: float, what: str, every: float = 0.1
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(every)


@dataclass
class BackendProcess:
    """`hostpulse-backend serve` on a fixed port, so it can be killed and started again there."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, ready_within: float = 90.0) -> None:
        assert self.process is None or self.process.returncode is not None
        log = _append(self.log_path)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backend.cli",
            "serve",
            "--port",
            str(self.port),
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        process = self.process
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:

            async def ready() -> bool:
                if process.returncode is not None:
                    pytest.fail(f"backend exited with {process.returncode}: {self.log_tail()}")
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(ready, ready_within, f"the backend on port {self.port}")

    def log_tail(self, chars: int = 3000) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(errors="replace")[-chars:]

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever was only in memory is gone."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def terminate(self, within: float) -> float:
        """SIGTERM; the seconds it took to exit (fails if more than `within`)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"backend did not exit within {within}s of SIGTERM")
        return time.monotonic() - started

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def backend_env(
    database_url: str, redis_url: str, redis_prefix: str, **extra: str
) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HOSTPULSE_REDIS_PREFIX": redis_prefix,
        "HOSTPULSE_BOOTSTRAP_AGENT_TOKEN": TOKEN,
        "HOSTPULSE_LOG_LEVEL": "warning",
        "HOSTPULSE_LOG_FORMAT": "text",
        **extra,
    }


@contextlib.asynccontextmanager
async def running_backend(env: dict[str, str], log_dir: Path) -> AsyncIterator[BackendProcess]:
    backend = BackendProcess(env, log_dir / "backend.log")
    try:
        await backend.start()
        yield backend
    finally:
        await backend.stop()


@dataclass
class AgentProcess:
    """`hostpulse-exporter` pushing JSON reports with an on-disk spool."""

    host: str
    spool_dir: Path
    log_path: Path
    process: asyncio.subprocess.Process | None = None

    async def start(self, url: str, token_file: Path, interval: str = "1s") -> None:
        with _append(self.log_path) as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "exporter.cli",
                "--no-prometheus",
                "--interval",
                interval,
                "--host-name",
                self.host,
                "--backend-url",
                url,
                "--token-file",
                str(token_file),
                "--spool-dir",
                str(self.spool_dir),
                "--log-format",
                "json",
                "--shutdown-deadline",
                "20s",
                cwd=REPO,
                # A 2 s cap on the retry backoff keeps the test short; the default is 60 s.
                env={**os.environ, "HOSTPULSE_JSON_PUSH__BACKOFF_MAX": "2s"},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )

    async def stop(self) -> None:
        """SIGTERM and wait: the agent flushes what it buffered (or keeps it in the spool)."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 40)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"agent {self.host} did not stop within 40s: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def produced_and_unsent(self) -> tuple[int, int]:
        """(reports the agent made = its last seq, reports still waiting in its spool)."""
        spool = Spool(self.spool_dir)
        spool.open()
        try:
            state = spool.read_state()
            assert state is not None, f"agent {self.host} left no spool state"
            return state.last_seq, len(spool.load())
        finally:
            spool.close()


def token_file(directory: Path) -> Path:
    path = directory / "token"
    path.write_text(TOKEN)
    path.chmod(0o600)
    return path


async def snapshots_per_report(database_url: str, host: str) -> tuple[int, int]:
    """(process tables stored for `host`, distinct report times among them): equal when no
    report was stored twice; each agent report carries one process table."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT time) AS times FROM process_snapshots"
            " WHERE host = $1",
            host,
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row["n"]), int(row["times"])


async def sample_times(database_url: str, host: str, metric: str) -> int:
    """Distinct times stored for `metric` of `host` (head and late rows)."""
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval(
            """
            SELECT count(DISTINCT t) FROM (
                SELECT s.time AS t FROM samples s JOIN series r ON r.id = s.series_id
                 WHERE r.host = $1 AND r.metric = $2
                UNION ALL
                SELECT l.time FROM samples_late l JOIN series r ON r.id = l.series_id
                 WHERE r.host = $1 AND r.metric = $2
            ) AS times
            """,
            host,
            metric,
        )
    finally:
        await conn.close()
    return int(count)


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster of the test's own (initdb + pg_ctl as user postgres, own port), so
    the test can stop and start it without touching the shared server."""

    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def init(self) -> None:
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.directory / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        )

    def start(self) -> None:
        data = self.directory / "data"
        options = f"-h 127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.directory / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a crash or failover."""
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.directory / "data"),
            "-w",
            "-t",
            "60",
            "-m",
            "fast",
            "stop",
        )


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    if not (PG_BIN / "initdb").exists():
        message = f"{PG_BIN}/initdb is not installed (postgresql-15)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    directory = Path(tempfile.mkdtemp(prefix="hp-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    cluster = ThrowawayPostgres(directory)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Pusher:
    """Sends agent reports (one host, seq 1, 2, ...) like the agent does: each until it is
    acknowledged, honouring Retry-After; records every answer."""

    client: httpx.AsyncClient
    host: str
    instance: str
    acked: list[int] = field(default_factory=list)
    acked_times: list[int] = field(default_factory=list)  # each acked report's time, unix ms
    statuses: list[int] = field(default_factory=list)
    retry_afters: list[str] = field(default_factory=list)
    transport_errors: int = 0

    async def push(self, seq: int) -> None:
        from tests.backend.running import agent_report

        at = int(time.time() * 1000)
        body = agent_report(self.host, seq=seq, instance=self.instance, time_ms=at)
        while True:
            try:
                answer = await self.client.post("/ingest/metrics", json=body, headers=AUTH)
            except httpx.TransportError:
                self.transport_errors += 1
                await asyncio.sleep(0.5)
                continue
            self.statuses.append(answer.status_code)
            if answer.status_code == 200:
                self.acked.append(seq)
                self.acked_times.append(at)
                return
            assert answer.status_code == 503, answer.text
            self.retry_afters.append(answer.headers.get("retry-after", ""))
            await asyncio.sleep(min(2.0, float(answer.headers.get("retry-after", "1"))))

    async def run(self, until: asyncio.Event, interval: float = 0.2) -> None:
        seq = 0
        while not until.is_set():
            seq += 1
            await self.push(seq)
            await asyncio.sleep(interval)


async def snapshot_times(database_url: str, host: str) -> list[int]:
    """The report time (unix ms) of every process table stored for `host`, duplicates kept."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT (extract(epoch FROM time) * 1000)::bigint AS ms FROM process_snapshots"
            " WHERE host = $1",
            host,
        )
    finally:
        await conn.close()
    return [int(row["ms"]) for row in rows]


@dataclass
class OwnRedis:
    """A redis-server of the test's own on its own port (nothing kept on disk), so the test can
    stop it and start a fresh, empty one in its place, as a Redis restart does."""

    program: str
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            self.program,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not listen on {self.port} within 20s")
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class FaultyProxy:
    """A TCP proxy (127.0.0.1, its own port) between agents and the backend whose behaviour the
    test switches: `pass`, `latency` (each chunk held `latency` seconds), `reset` (connections
    aborted with RST) and `blackhole` (connections accepted, data swallowed, nothing answered).
    A switch applies to open connections too."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.latency = 0.3
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()

    def _reset(self, *writers: asyncio.StreamWriter) -> None:
        for writer in writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:  # linger 0: close sends RST, as a crashed middlebox would
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.mode == "reset":
                self._reset(writer)
                return
            if self.mode == "blackhole":
                while await reader.read(65536):
                    pass
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    "127.0.0.1", self.upstream_port
                )
            except OSError:
                self._reset(writer)
                return
            self._writers.add(up_writer)
            await asyncio.gather(
                self._pipe(reader, up_writer, writer), self._pipe(up_reader, writer, up_writer)
            )
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, peer: asyncio.StreamWriter
    ) -> None:
        try:
            while chunk := await source.read(65536):
                if self.mode == "latency":
                    await asyncio.sleep(self.latency)
                if self.mode == "reset":
                    self._reset(sink, peer)
                    return
                if self.mode == "blackhole":
                    continue
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            self._reset(sink, peer)
        finally:
            self._writers.discard(sink)
            if not sink.transport.is_closing():
                sink.close()
