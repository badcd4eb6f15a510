"""`hostpulse-grafana push` against a fake Grafana (tests/dashboards/grafana/fake_grafana.py: no
Grafana server can run here, so a stateful fake of its HTTP API is served by pytest-httpserver).
The command runs in-process through the CLI's main(); requests go over a real socket with
grafana-client. Checked: the exact calls and their order, the auth header, idempotency, --dry-run,
every Grafana error as one line with exit 1, and that no secret is printed."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dashboards.grafana.cli import main
from dashboards.grafana.generate import DASHBOARDS_DIR
from tests.conftest import free_port
from tests.dashboards.grafana.fake_grafana import PASSWORD, TOKEN, USER, FakeGrafana

DASHBOARD_UIDS = sorted(json.loads(p.read_text())["uid"] for p in DASHBOARDS_DIR.glob("*.json"))
DATASOURCE_UIDS = ["hostpulse-prometheus", "hostpulse-postgres"]
DB_PASSWORD = "grafana-db-password-not-to-be-printed"

Push = Callable[..., tuple[int, str, str]]


@pytest.fixture
def grafana(httpserver: HTTPServer) -> FakeGrafana:
    fake = FakeGrafana()
    fake.install(httpserver)
    return fake


@pytest.fixture
def push(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Push:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    monkeypatch.setenv("HOSTPULSE_GRAFANA_DB_PASSWORD", DB_PASSWORD)
    monkeypatch.delenv("GRAFANA_URL", raising=False)

    def run(*args: str, url: str | None = None, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(["push", "--url", url or httpserver.url_for("/").rstrip("/"), *args])
        out, err = capsys.readouterr()
        for secret in (TOKEN, PASSWORD, DB_PASSWORD):
            assert secret not in out + err, "a secret was printed"
        return code, out, err

    return run


def expected_reads() -> list[str]:
    return [
        "GET /api/health",
        "GET /api/folders/hostpulse",
        *(f"GET /api/datasources/uid/{uid}" for uid in DATASOURCE_UIDS),
        *(f"GET /api/dashboards/uid/{uid}" for uid in DASHBOARD_UIDS),
    ]


def test_first_push_creates_folder_then_datasources_then_dashboards(
    grafana: FakeGrafana, push: Push
) -> None:
    code, out, err = push("--prometheus-url", "http://prometheus:9090")
    assert (code, err) == (0, "")
    assert grafana.route_list() == [
        *expected_reads(),
        "POST /api/folders",
        "POST /api/datasources",
        "POST /api/datasources",
        *["POST /api/dashboards/db"] * len(DASHBOARD_UIDS),
    ]
    assert grafana.folders["hostpulse"]["title"] == "HostPulse"
    assert grafana.datasources["hostpulse-prometheus"]["url"] == "http://prometheus:9090"
    assert grafana.datasources["hostpulse-prometheus"]["jsonData"]["httpMethod"] == "POST"
    assert sorted(grafana.dashboards) == DASHBOARD_UIDS
    assert {d["meta"]["folderUid"] for d in grafana.dashboards.values()} == {"hostpulse"}
    saves = [c.body for c in grafana.calls if c.path == "/api/dashboards/db"]
    assert all(s["overwrite"] is True and s["dashboard"]["id"] is None for s in saves)
    assert out.strip().splitlines()[-1].startswith(f"created {2 + 1 + len(DASHBOARD_UIDS)} ")


def test_every_request_but_health_carries_the_token_as_a_bearer_header(
    grafana: FakeGrafana, push: Push
) -> None:
    assert push()[0] == 0
    for call in grafana.calls[1:]:
        assert call.authorization == f"Bearer {TOKEN}", call.path


def test_token_file_wins_over_the_environment(
    grafana: FakeGrafana, push: Push, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_a-stale-token")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert push("--token-file", str(token_file))[0] == 0
    assert {c.authorization for c in grafana.calls[1:]} == {f"Bearer {TOKEN}"}


def test_user_and_password_from_stdin_use_basic_auth(
    grafana: FakeGrafana, push: Push, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN")
    code, _, err = push("--user", USER, "--password-stdin", stdin=PASSWORD + "\n")
    assert (code, err) == (0, "")
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert {c.authorization for c in grafana.calls[1:]} == {f"Basic {basic}"}


def test_second_push_changes_nothing_and_says_so(grafana: FakeGrafana, push: Push) -> None:
    assert push()[0] == 0
    grafana.calls.clear()
    code, out, _ = push()
    assert code == 0
    assert grafana.route_list() == expected_reads(), "reads only: no write on the second run"
    assert "up to date: nothing to change" in out
    assert all(line.startswith("unchanged") for line in out.strip().splitlines()[:-1])


def test_dry_run_prints_the_plan_and_writes_nothing(grafana: FakeGrafana, push: Push) -> None:
    code, out, _ = push("--dry-run")
    assert code == 0
    assert grafana.writes() == []
    assert grafana.folders == grafana.datasources == grafana.dashboards == {}
    lines = out.strip().splitlines()
    assert len([line for line in lines[:-1] if line.startswith("would create")]) == 8
    assert "dry run: nothing was sent" in lines[-1]


def test_drift_is_named_and_fixed_through_uid_routes(grafana: FakeGrafana, push: Push) -> None:
    assert push()[0] == 0
    grafana.folders["hostpulse"]["title"] = "Renamed by someone"
    grafana.datasources["hostpulse-prometheus"]["url"] = "http://old-prometheus:9090"
    grafana.datasources["hostpulse-prometheus"]["jsonData"]["keptSetting"] = "x"
    host = grafana.dashboards["hostpulse-host"]
    host["dashboard"]["title"] = "Edited in the UI"
    grafana.dashboards["hostpulse-fleet"]["meta"]["folderUid"] = ""
    grafana.calls.clear()

    code, out, _ = push("--dry-run", "--prometheus-url", "http://localhost:9090")
    assert code == 0
    assert grafana.writes() == []
    assert "would update    folder     hostpulse" in out
    assert re.search(r"would update .*hostpulse-prometheus .*differs: url", out)
    assert re.search(r"would update .*hostpulse-host .*content differs", out)
    assert re.search(r"would update .*hostpulse-fleet .*in folder 'General'", out)

    grafana.calls.clear()
    assert push()[0] == 0
    assert [f"{c.method} {c.path}" for c in grafana.writes()] == [
        "PUT /api/folders/hostpulse",
        "PUT /api/datasources/uid/hostpulse-prometheus",
        "POST /api/dashboards/db",
        "POST /api/dashboards/db",
    ]
    assert grafana.folders["hostpulse"]["title"] == "HostPulse"
    ds = grafana.datasources["hostpulse-prometheus"]
    assert ds["url"] == "http://localhost:9090"
    assert ds["jsonData"]["keptSetting"] == "x", "settings push does not manage are kept"
    assert grafana.dashboards["hostpulse-host"]["dashboard"]["title"] != "Edited in the UI"
    assert grafana.dashboards["hostpulse-fleet"]["meta"]["folderUid"] == "hostpulse"
    grafana.calls.clear()
    assert push()[0] == 0
    assert grafana.writes() == []


def test_no_numeric_id_route_is_used(grafana: FakeGrafana, push: Push) -> None:
    """Grafana 13 disables the numeric-id datasource routes: only uid routes."""
    assert push()[0] == 0
    grafana.datasources["hostpulse-postgres"]["url"] = "elsewhere:5432"
    assert push()[0] == 0
    assert not [c for c in grafana.calls if re.fullmatch(r"/api/datasources/\d+.*", c.path)]
    assert not [c for c in grafana.calls if re.search(r"/api/(folders|dashboards)/id/", c.path)]


def test_postgres_password_is_sent_once_and_never_shown(grafana: FakeGrafana, push: Push) -> None:
    code, _, _ = push(
        "--postgres-dsn", "postgresql://hostpulse_grafana@db:5433/hp?sslmode=verify-full"
    )
    assert code == 0
    ds = grafana.datasources["hostpulse-postgres"]
    assert (ds["url"], ds["user"]) == ("db:5433", "hostpulse_grafana")
    assert ds["jsonData"]["database"] == "hp"
    assert ds["jsonData"]["sslmode"] == "verify-full"
    assert grafana.passwords["hostpulse-postgres"] == DB_PASSWORD
    grafana.calls.clear()
    assert (
        push("--postgres-dsn", "postgresql://hostpulse_grafana@db:5433/hp?sslmode=verify-full")[0]
        == 0
    )
    assert grafana.writes() == [], "an existing password is not resent"


@pytest.mark.parametrize(
    ("fault", "status", "message", "expected"),
    [
        (("GET", "/api/folders/hostpulse"), 401, "invalid API key", "401 invalid API key"),
        (("POST", "/api/datasources"), 403, "Permissions needed", "needs the Admin role"),
        (
            ("POST", "/api/datasources"),
            409,
            "data source with the same name already exists",
            "same name but another uid",
        ),
        (
            ("POST", "/api/dashboards/db"),
            412,
            "A dashboard with the same name in the folder already exists",
            "Grafana refused the write as out of date",
        ),
        (("GET", "/api/health"), 404, "Not found", "check that --url is Grafana's address"),
        (("POST", "/api/folders"), 500, "database is locked", "500 database is locked"),
    ],
)
def test_a_grafana_error_is_one_line_and_exit_1(
    grafana: FakeGrafana,
    push: Push,
    fault: tuple[str, str],
    status: int,
    message: str,
    expected: str,
) -> None:
    grafana.faults[fault] = (status, message)
    code, _, err = push()
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("hostpulse-grafana push: ")
    assert expected in err
    assert "Traceback" not in err


def test_bad_token_is_refused_without_writing(
    grafana: FakeGrafana, push: Push, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_wrong")
    code, _, err = push()
    assert code == 1
    assert "401" in err
    assert "GRAFANA_TOKEN" in err
    assert "glsa_wrong" not in err
    assert grafana.writes() == []


def test_unreachable_grafana_is_one_line(push: Push) -> None:
    code, _, err = push(url=f"http://127.0.0.1:{free_port()}")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "cannot reach Grafana" in err


def test_grafana_under_a_sub_path(httpserver: HTTPServer, push: Push) -> None:
    fake = FakeGrafana(prefix="/grafana")
    fake.install(httpserver)
    code, _, err = push(url=httpserver.url_for("/grafana"))
    assert (code, err) == (0, "")
    assert all(c.path.startswith("/api/") for c in fake.calls)
    assert sorted(fake.dashboards) == DASHBOARD_UIDS


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--postgres-dsn", "postgresql://u:pw@db/hp"], "leave the password out of the DSN"),
        (["--user", USER], "--user needs --password-stdin"),
        (["--postgres-dsn", "mysql://db/hp"], "expected postgresql://"),
        (["--dashboards-dir", "/nonexistent"], "no dashboard JSON files"),
    ],
)
def test_bad_settings_exit_2_before_any_request(
    grafana: FakeGrafana, push: Push, args: list[str], expected: str
) -> None:
    code, _, err = push(*args)
    assert code == 2
    assert expected in err
    assert grafana.calls == []


def test_no_credentials_exit_2(
    grafana: FakeGrafana, push: Push, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN")
    code, _, err = push()
    assert code == 2
    assert "no credentials" in err
    assert grafana.calls == []


def test_credentials_in_the_url_are_refused(push: Push, httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/").replace("http://", f"http://{USER}:{PASSWORD}@").rstrip("/")
    code, _, err = push(url=url)
    assert code == 2
    assert "no user or password in the URL" in err
