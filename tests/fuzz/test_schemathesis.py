"""schemathesis against the running backend's OpenAPI: every check, all four phases (examples,
coverage, fuzzing, stateful), once with an admin session and once with an agent token.

The backend is the real app on uvicorn with real PostgreSQL and Redis; schemathesis runs as its
own process (its CLI), as a user would run it. Bounded: a fixed seed and a per-operation example
count (FUZZ_SEED, FUZZ_MAX_EXAMPLES; scripts/fuzz-api runs the same with larger numbers), and
each run must have generated at least FUZZ_MIN_CASES cases.

`positive_data_acceptance` is off: it asserts that every request valid by the schema gets a 2xx,
but OpenAPI cannot express what the backend rightly refuses with a documented 4xx: an id that
names no row (404), a second user of the same name (409), a rule whose expression does not parse
(422), a timestamp older than the retention horizon. Every other check is on, including
`negative_data_rejection` (invalid input must get a 4xx) and `not_a_server_error`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from backend.auth.agent_tokens import create_token
from backend.settings import BackendSettings
from tests.backend.auth.support import make_user, session_for
from tests.backend.ingest.ingest_support import running_backend
from tests.conftest import free_port

SEED = int(os.environ.get("FUZZ_SEED", "20261205"))
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
MIN_CASES = int(os.environ.get("FUZZ_MIN_CASES", "1000"))
RUN_TIMEOUT_SECONDS = float(os.environ.get("FUZZ_TIMEOUT", "600"))
ROOT = Path(__file__).resolve().parents[2]
REPORT_DIR = os.environ.get("FUZZ_REPORT_DIR")  # keep schemathesis' output and JSON report there

pytestmark = [pytest.mark.slow]

# Operations that end the caller's own session mid-run: every later request would be a 401 that
# tests nothing. They have their own tests (tests/backend/api/routes/test_auth.py). Changes to the
# admin's own account are filtered out by tests/fuzz/schemathesis_hooks.py.
ADMIN_EXCLUDED = ("/api/auth/logout", "/api/auth/password")


@dataclass
class Backend:
    url: str
    admin_id: int
    admin_session: str
    agent_token: str


@pytest.fixture
async def backend(database_url: str, redis_prefix: str) -> AsyncIterator[Backend]:
    settings = BackendSettings(
        database_url=database_url,
        redis_prefix=redis_prefix,
        port=free_port(),
        bootstrap_agent_token=SecretStr("hp_fuzz-bootstrap-" + "x" * 24),
    )
    admin = await make_user(database_url, "fuzz-admin", "admin")
    session = await session_for(database_url, admin, ttl_seconds=3 * 3600)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        _, token = await create_token(pool, "fuzz agent")
    finally:
        await pool.close()
    async with running_backend(settings) as url:
        yield Backend(url, admin.id, session, token)


def schemathesis_cli() -> list[str]:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'")
    return [found]


def keep_report(directory: Path, name: str, output: bytes, report: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.txt").write_bytes(output)
    if report.exists():
        shutil.copy(report, directory / f"{name}.json")


def load_report(report: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    return loaded


async def run_schemathesis(
    backend: Backend, tmp_path: Path, authorization: str, max_examples: int, *filters: str
) -> tuple[int, str, dict[str, Any]]:
    report = tmp_path / "report.json"
    command = [
        *schemathesis_cli(),
        "run",
        f"{backend.url}/openapi.json",
        "--header",
        f"Authorization: {authorization}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--max-examples",
        str(max_examples),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "too_slow",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *filters,
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
        env={
            **os.environ,
            "SCHEMATHESIS_TELEMETRY": "false",
            "SCHEMATHESIS_HOOKS": "tests.fuzz.schemathesis_hooks",
            "FUZZ_PROTECTED_USER_ID": str(backend.admin_id),
            "PYTHONPATH": str(ROOT),
        },
    )
    output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_SECONDS)
    if REPORT_DIR:
        keep_report(Path(REPORT_DIR), tmp_path.name, output, report)
    summary = load_report(report)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace"), summary


def assert_clean_run(
    result: tuple[int, str, dict[str, Any]], phases: tuple[str, ...] = ("coverage", "fuzzing")
) -> None:
    code, output, summary = result
    assert code == 0, output[-8000:]
    cases = summary["test_cases"]
    assert cases["generated"] >= MIN_CASES, cases
    assert (cases["with_failures"], cases["errored"]) == (0, 0), output[-8000:]
    assert summary["warnings"]["missing_auth"] == [], "credentials were refused: nothing tested"
    ran = {name for name, phase in summary["phases"].items() if phase["status"] == "success"}
    assert set(phases) <= ran, summary["phases"]


async def test_admin_api_passes_every_check(backend: Backend, tmp_path: Path) -> None:
    """Everything but ingest with an admin session (the ingest routes refuse sessions)."""
    filters = [arg for path in ADMIN_EXCLUDED for arg in ("--exclude-path", path)]
    result = await run_schemathesis(
        backend,
        tmp_path,
        f"Bearer {backend.admin_session}",
        MAX_EXAMPLES,
        "--exclude-tag",
        "ingest",
        *filters,
    )
    assert_clean_run(result, ("coverage", "fuzzing", "stateful"))


async def test_ingest_api_passes_every_check_with_an_agent_token(
    backend: Backend, tmp_path: Path
) -> None:
    """The three receivers with an agent token: their bodies are raw (documented as binary), so
    generated bodies are mostly undecodable — each must be a documented 4xx, never a 5xx."""
    result = await run_schemathesis(
        backend,
        tmp_path,
        f"Bearer {backend.agent_token}",
        MAX_EXAMPLES * 14,  # 3 operations instead of 33
        "--include-tag",
        "ingest",
    )
    assert_clean_run(result)  # no links between the receivers: no stateful phase to run
