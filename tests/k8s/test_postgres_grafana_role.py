"""PostgreSQL's TLS settings from the StatefulSet and the grafana-db-role Job, run for real.

The official `postgres` image cannot be pulled here (no registry), so a throw-away cluster of the
machine's PostgreSQL starts with the StatefulSet's `-c` arguments, its POSTGRES_USER/POSTGRES_DB
and the overlay's generated certificate and key, owned and moded as the kubelet mounts a Secret
(root, group fsGroup, the volume's defaultMode): PostgreSQL must accept that key. The backend's
migrations create `hostpulse_grafana`; the Job's own script (from the rendered manifest) runs with
bash and this machine's psql, with the Job's environment (sslmode require) and the Secrets. Then
Grafana's login as the provisioned datasource makes it (user hostpulse_grafana, the password from
the Secret, sslmode require) works over TLS, reads the `grafana` schema and nothing else.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import free_port, require_program
from tests.k8s import pod_runner
from tests.k8s.rendering import Manifest

pytestmark = [pytest.mark.external, pytest.mark.slow]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRETS = "/var/run/secrets/hostpulse"


@dataclass
class Cluster:
    port: int
    owner: str
    owner_password: str
    database: str
    root: Path


def _as_postgres(*command: str, timeout: float = 120) -> None:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def cluster(rendered: dict[str, list[Manifest]]) -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        require_program("initdb-15")  # skips (fails in CI) with the program's name
    require_program("runuser")
    manifests = rendered["minikube"]
    plan = pod_runner.plan_pod(manifests, "StatefulSet", "postgres")
    container = plan.container("postgres")
    owner, database = container.env["POSTGRES_USER"], container.env["POSTGRES_DB"]
    password_mount = next(m for m in container.mounts if m.target == f"{SECRETS}/postgres")
    tls_mount = next(m for m in container.mounts if m.target == f"{SECRETS}/postgres-tls")
    assert password_mount.files is not None
    assert tls_mount.files is not None
    postgres_gid = int(
        subprocess.run(["id", "-g", "postgres"], capture_output=True, text=True).stdout
    )

    root = Path(tempfile.mkdtemp(prefix="hp-k8s-pg-"))
    root.chmod(0o755)
    try:
        # The Secret volume as the kubelet makes it: root-owned files, group fsGroup (the image's
        # postgres group; here the machine's), the volume's defaultMode.
        tls_dir = root / "postgres-tls"
        tls_dir.mkdir()
        for name, content in tls_mount.files.items():
            path = tls_dir / name
            path.write_bytes(content)
            os.chown(path, 0, postgres_gid)
            path.chmod(tls_mount.mode)
        password = password_mount.files["password"].decode()
        pwfile = root / "pwfile"
        pwfile.write_text(password)
        shutil.chown(pwfile, "postgres")
        data, run = root / "data", root / "run"
        for directory in (data, run):
            directory.mkdir()
            shutil.chown(directory, "postgres")
        # As the image's entrypoint does: POSTGRES_USER owns the cluster, with its password.
        _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            owner,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        )
        args = container.args or []
        assert args[0] == "postgres"
        server_options = " ".join(
            part.replace(f"{SECRETS}/postgres-tls", str(tls_dir)) for part in args[1:]
        )
        port = free_port()
        _as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(run / "log"),
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {run} {server_options}",
            "start",
        )
        try:
            _as_postgres(
                str(PG_BIN / "createdb"), "-h", str(run), "-p", str(port), "-U", owner, database
            )
            yield Cluster(port, owner, password, database, root)
        finally:
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _dsn(cluster: Cluster, user: str, password: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{cluster.port}/{cluster.database}"


def _run_job(rendered: dict[str, list[Manifest]], cluster: Cluster, tmp: Path) -> str:
    manifests = rendered["minikube"]
    plan = pod_runner.plan_pod(manifests, "Job", "grafana-db-role")
    container = plan.container("set-password")
    assert container.command == ["bash", "-ec"]
    script = (container.args or [""])[0]
    (mount,) = [m for m in container.mounts if m.files is not None]
    assert mount.files is not None
    secret_dir = tmp / "grafana-db"
    secret_dir.mkdir(exist_ok=True)
    for name, content in mount.files.items():
        (secret_dir / name).write_bytes(content)
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        **container.env,
        # The `postgres` Service is this cluster.
        "PGHOST": "127.0.0.1",
        "PGPORT": str(cluster.port),
    }
    assert container.env["PGSSLMODE"] == "require"
    assert container.env["PGPASSWORD"] == cluster.owner_password
    done = subprocess.run(
        ["bash", "-ec", script.replace(mount.target, str(secret_dir))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_postgres_serves_tls_with_the_generated_certificate(cluster: Cluster) -> None:
    async def check() -> bool:
        connection = await asyncpg.connect(
            _dsn(cluster, cluster.owner, cluster.owner_password), ssl="require"
        )
        try:
            ssl: bool = await connection.fetchval(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
            return ssl
        finally:
            await connection.close()

    assert asyncio.run(check()) is True


def test_the_job_gives_grafana_its_login_once_migrations_made_the_role(
    rendered: dict[str, list[Manifest]], cluster: Cluster, tmp_path: Path
) -> None:
    from backend.storage.migrations import migrate_database

    psql = require_program("psql")
    assert psql
    asyncio.run(migrate_database(_dsn(cluster, cluster.owner, cluster.owner_password)))
    first = _run_job(rendered, cluster, tmp_path)
    assert "hostpulse_grafana may log in" in first
    _run_job(rendered, cluster, tmp_path)  # safe to run twice

    grafana = pod_runner.plan_pod(rendered["minikube"], "Deployment", "grafana")
    password = grafana.container("grafana").env["HOSTPULSE_GRAFANA_DB_PASSWORD"]

    async def as_grafana() -> tuple[bool, int]:
        # As the provisioned datasource connects: user hostpulse_grafana, sslmode require.
        connection = await asyncpg.connect(
            _dsn(cluster, "hostpulse_grafana", password), ssl="require"
        )
        try:
            ssl = await connection.fetchval(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
            hosts = await connection.fetchval("SELECT count(*) FROM grafana.hosts")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.fetch("SELECT * FROM users")
            return ssl, hosts
        finally:
            await connection.close()

    ssl, hosts = asyncio.run(as_grafana())
    assert ssl is True
    assert hosts == 0

    async def wrong_password() -> None:
        await asyncpg.connect(_dsn(cluster, "hostpulse_grafana", password + "x"), ssl="require")

    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(wrong_password())
