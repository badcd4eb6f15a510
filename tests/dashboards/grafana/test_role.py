"""`hostpulse-grafana role --password-stdin` against a real PostgreSQL of the test's own whose TCP
connections need a SCRAM-SHA-256 password (the shared test server trusts every login, so it could
not tell a right password from a wrong one): afterwards Grafana's role logs in with that password
and reads its schema, a wrong password is refused, and the server never saw the password."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from backend.storage.migrations import migrate_database
from dashboards.grafana.cli import main
from dashboards.grafana.role import PasswordError, check_password, scram_verifier
from tests.conftest import ADMIN_DSN, free_port, require_program

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "grafana-role-test-password-0123456789"


@dataclass(frozen=True)
class Cluster:
    directory: Path
    port: int

    def socket_dsn(self, database: str) -> str:
        """As the superuser over the Unix socket (trusted, as a local admin would be)."""
        return f"postgresql://postgres@/{database}?host={self.directory}&port={self.port}"

    def tcp_dsn(self, user: str, password: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/hostpulse"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    require_program("runuser")
    initdb = require_program(str(PG_BIN / "initdb"))
    directory = Path(tempfile.mkdtemp(prefix="hp-grafana-role-"))
    shutil.chown(directory, "postgres", "postgres")
    os.chmod(directory, 0o700)

    def pg_ctl(*args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(directory),
             *args],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    subprocess.run(
        ["runuser", "-u", "postgres", "--", initdb, "-D", str(directory), "-U", "postgres",
         "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    running = Cluster(directory, free_port())
    # log_statement=all: the test reads the log to see the password never reached the server.
    options = f"-h 127.0.0.1 -p {running.port} -k {directory} -c log_statement=all"
    pg_ctl("-l", str(directory / "log"), "-w", "-o", options, "start")
    try:
        yield running
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(directory),
             "-m", "immediate", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)


def run_role(dsn: str, stdin: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["role", "--dsn", dsn, "--password-stdin"])


async def _create_database(cluster: Cluster) -> None:
    admin = await asyncpg.connect(cluster.socket_dsn("postgres"))
    try:
        await admin.execute("CREATE DATABASE hostpulse")
    finally:
        await admin.close()


async def _login(cluster: Cluster, password: str) -> list[str]:
    conn = await asyncpg.connect(cluster.tcp_dsn("hostpulse_grafana", password))
    try:
        hosts = [r["host"] for r in await conn.fetch("SELECT host FROM grafana.hosts")]
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM users")
        return hosts
    finally:
        await conn.close()


@pytest.mark.slow
def test_role_logs_in_with_the_password_and_only_that(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_create_database(cluster))
    dsn = cluster.socket_dsn("hostpulse")
    # Before the backend's migrations there is no role to give a login.
    assert run_role(dsn, PASSWORD + "\n", monkeypatch) == 1
    assert "start the backend once" in capsys.readouterr().err

    asyncio.run(migrate_database(dsn))
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):  # NOLOGIN
        asyncio.run(_login(cluster, PASSWORD))
    assert run_role(dsn, "short\n", monkeypatch) == 2
    assert "shorter than 16" in capsys.readouterr().err

    assert run_role(dsn, PASSWORD + "\n", monkeypatch) == 0
    out = capsys.readouterr().out
    assert "hostpulse_grafana may log in" in out
    assert PASSWORD not in out
    assert asyncio.run(_login(cluster, PASSWORD)) == []
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(_login(cluster, PASSWORD + "x"))
    # Running it again with a new password replaces the old one.
    assert run_role(dsn, "another-password-0123456789\n", monkeypatch) == 0
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(_login(cluster, PASSWORD))
    assert PASSWORD not in (cluster.directory / "log").read_text(errors="replace")
    assert "ALTER ROLE" in (cluster.directory / "log").read_text(errors="replace")


async def test_the_verifier_is_the_one_postgresql_makes() -> None:
    """PostgreSQL hashes a password into a verifier with a random salt; with that salt and
    iteration count, scram_verifier makes the same string."""
    name = f"hp_test_scram_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute("SET password_encryption = 'scram-sha-256'")
        await conn.execute(f"CREATE ROLE {name} NOLOGIN PASSWORD 'correct horse battery staple'")
        stored = await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", name)
    finally:
        await conn.execute(f"DROP ROLE IF EXISTS {name}")
        await conn.close()
    iterations, salt = stored.split("$")[1].split(":")
    mine = scram_verifier("correct horse battery staple", base64.b64decode(salt), int(iterations))
    assert mine == stored
    assert scram_verifier("correct horse battery staple") != stored  # a fresh salt each time


@pytest.mark.parametrize(
    ("password", "problem"),
    [("too-short", "shorter than 16"), ("pässwörd-0123456789", "non-ASCII"),
     ("tab\tinside-0123456789", "control")],
)  # fmt: skip
def test_refused_passwords_say_what_to_do(password: str, problem: str) -> None:
    with pytest.raises(PasswordError, match=problem) as refused:
        check_password(password)
    assert "openssl rand" in str(refused.value)
