"""`hostpulse-grafana push`: puts HostPulse's folder, both datasources and every dashboard into a
running Grafana through its HTTP API (grafana-client), idempotently.

The decisions are push_plan.py's; this module reads the settings and credentials, asks Grafana for
the current objects by uid, prints the plan and (unless --dry-run) makes the changes, turning
Grafana's errors into one line and exit status 1. Credentials come from a file, the environment or
stdin — never from an argument, which any user could read with `ps`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dashboards.grafana.generate import DASHBOARDS_DIR
from dashboards.grafana.push_plan import (
    Change,
    Current,
    Desired,
    Json,
    PlanError,
    Postgres,
    desired,
    plan,
    read_dashboards,
    summary,
)
from dashboards.grafana.uids import FOLDER_TITLE

PROG = "hostpulse-grafana push"
TOKEN_ENV = "GRAFANA_TOKEN"  # noqa: S105 (a variable's name, not a secret)
DB_PASSWORD_ENV = "HOSTPULSE_GRAFANA_DB_PASSWORD"  # noqa: S105
DEFAULT_PROMETHEUS_URL = "http://localhost:9090"
DEFAULT_POSTGRES_DSN = "postgresql://hostpulse_grafana@localhost:5432/hostpulse?sslmode=require"

T = TypeVar("T")


class PushError(Exception):
    """One line for the operator; push exits 1 with it."""


class UsageError(Exception):
    """A bad flag or missing credential; push exits 2 with it."""


def add_arguments(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.description = (
        "Create or update the HostPulse folder, both datasources (by uid) and every dashboard in "
        "a running Grafana. Idempotent: a second run changes nothing and says so. Credentials: "
        f"--token-file, else ${TOKEN_ENV} (a service-account token with the Admin role), else "
        "--user with the password on stdin."
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("GRAFANA_URL"),
        help="Grafana's address, e.g. http://grafana:3000 or https://host/grafana "
        "(default: $GRAFANA_URL)",
    )
    parser.add_argument(
        "--token-file", type=Path, help=f"file holding the API token (default: ${TOKEN_ENV})"
    )
    parser.add_argument("--user", help="basic-auth user instead of a token (with --password-stdin)")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the --user password from stdin"
    )
    parser.add_argument(
        "--folder", default=FOLDER_TITLE, help=f"folder title (default: {FOLDER_TITLE})"
    )
    parser.add_argument(
        "--prometheus-url",
        default=DEFAULT_PROMETHEUS_URL,
        help="the Prometheus datasource's URL, as Grafana reaches it "
        f"(default: {DEFAULT_PROMETHEUS_URL})",
    )
    parser.add_argument(
        "--postgres-dsn",
        default=DEFAULT_POSTGRES_DSN,
        help="the PostgreSQL datasource: postgresql://USER@HOST:PORT/DATABASE?sslmode=MODE, no "
        f"password (default: {DEFAULT_POSTGRES_DSN})",
    )
    parser.add_argument(
        "--postgres-password-file",
        type=Path,
        help=f"file holding the PostgreSQL role's password (default: ${DB_PASSWORD_ENV}); sent "
        "only when Grafana has none for the datasource",
    )
    parser.add_argument(
        "--dashboards-dir",
        type=Path,
        default=DASHBOARDS_DIR,
        help="the dashboard JSON files to push (default: the generated ones)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per request to Grafana (default: 10)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would change; send no change"
    )
    return run


def run(args: argparse.Namespace) -> int:
    try:
        api = connect(args, credential(args, sys.stdin))
        want = desired(
            folder_title=args.folder,
            prometheus_url=args.prometheus_url,
            postgres=Postgres.from_dsn(args.postgres_dsn),
            dashboards=read_dashboards(args.dashboards_dir),
            postgres_password=_secret_from(args.postgres_password_file, DB_PASSWORD_ENV),
        )
    except (UsageError, PlanError, OSError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    try:
        changes = plan(want, current(api, want))
        for change in changes:
            # Each write is printed once Grafana accepted it: the output is what was done.
            if args.dry_run and change.action != "unchanged":
                print(f"would {change.describe()}")
                continue
            if change.action != "unchanged":
                apply(api, change)
            print(change.describe())
    except PushError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    print(summary(changes, dry_run=args.dry_run))
    return 0


def credential(args: argparse.Namespace, stdin: Any) -> str | tuple[str, str]:
    """A token, or (user, password). Never from an argument's value."""
    if args.user or args.password_stdin:
        if args.token_file:
            raise UsageError("give either --token-file or --user/--password-stdin, not both")
        if not (args.user and args.password_stdin):
            raise UsageError("--user needs --password-stdin (the password is read from stdin)")
        password = stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: no password on stdin")
        return (args.user, password)
    token = _secret_from(args.token_file, TOKEN_ENV)
    if not token:
        raise UsageError(
            f"no credentials: put a Grafana service-account token in ${TOKEN_ENV} or a file "
            "(--token-file), or use --user NAME --password-stdin"
        )
    return token


def _secret_from(path: Path | None, env: str) -> str | None:
    if path is not None:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise UsageError(f"cannot read {path}: {error.strerror}") from error
        if not value:
            raise UsageError(f"{path} is empty")
        return value
    return os.environ.get(env, "").strip() or None


def connect(args: argparse.Namespace, auth: str | tuple[str, str]) -> Any:
    from grafana_client import GrafanaApi

    if not args.url:
        raise UsageError("--url is required (or set $GRAFANA_URL), e.g. --url http://grafana:3000")
    parts = urlsplit(args.url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"--url: expected http(s)://HOST[:PORT][/PATH], got {args.url!r}")
    if parts.username or parts.password:
        raise UsageError("--url: no user or password in the URL (it would show in `ps`)")
    prefix = parts.path.strip("/")
    return GrafanaApi(
        auth=auth,
        host=parts.hostname,
        port=parts.port,
        protocol=parts.scheme,
        url_path_prefix=f"{prefix}/" if prefix else "",
        timeout=args.timeout,
        user_agent="hostpulse-grafana",
    )


def current(api: Any, want: Desired) -> Current:
    """Grafana's objects for every uid push manages (None where it has none)."""
    health = _call(f"asking {api.client.url}/health", api.health.check)
    if not isinstance(health, dict) or "database" not in health:
        raise PushError(f"{api.client.url}/health did not answer as Grafana does: check --url")
    folder_uid = want.folder["uid"]
    return Current(
        folder=_get(f"reading folder {folder_uid}", api.folder.get_folder, folder_uid),
        datasources={
            ds["uid"]: _get(
                f"reading datasource {ds['uid']}", api.datasource.get_datasource_by_uid, ds["uid"]
            )
            for ds in want.datasources
        },
        dashboards={
            model["uid"]: _get(
                f"reading dashboard {model['uid']}", api.dashboard.get_dashboard, model["uid"]
            )
            for model in want.dashboards
        },
    )


def apply(api: Any, change: Change) -> None:
    what = f"{'creating' if change.action == 'create' else 'updating'} {change.kind} {change.uid}"
    if change.kind == "folder":
        if change.action == "create":
            _call(what, api.folder.create_folder, change.body["title"], change.body["uid"])
        else:
            _call(what, api.folder.update_folder, change.uid, change.body["title"], None, True)
    elif change.kind == "datasource":
        if change.action == "create":
            _call(what, api.datasource.create_datasource, change.body)
        else:
            _call(what, api.datasource.update_datasource_by_uid, change.uid, change.body)
    else:
        _call(what, api.dashboard.update_dashboard, change.body)


def _get(what: str, method: Callable[[str], Any], uid: str) -> Json | None:
    from grafana_client.client import GrafanaClientError

    try:
        found = method(uid)
    except GrafanaClientError as error:
        if error.status_code == 404:
            return None
        raise PushError(_explain(what, error)) from None
    except Exception as error:
        raise PushError(_explain(what, error)) from None
    return found if isinstance(found, dict) else None


def _call(what: str, method: Callable[..., T], *args: Any) -> T:
    try:
        return method(*args)
    except Exception as error:
        raise PushError(_explain(what, error)) from None


def _explain(what: str, error: Exception) -> str:
    """Grafana's answer (or the network's) as one line saying what to do."""
    import requests
    from grafana_client.client import GrafanaException

    if isinstance(error, GrafanaException):
        status = error.status_code
        said = _message(error.response)
        hint = {
            401: "Grafana rejected the credentials: check the token "
            f"(${TOKEN_ENV} / --token-file) or --user and its password",
            403: "not allowed: the token's service account (or user) needs the Admin role to "
            "manage datasources and Editor on the folder for dashboards",
            404: "Grafana has no such API route: check that --url is Grafana's address "
            "(with its sub-path, if it is served under one)",
            409: "an object with the same name but another uid exists in Grafana: "
            "rename or delete it there, then push again",
            412: "Grafana refused the write as out of date (version mismatch, or a dashboard "
            "with the same title in the folder): push again, or remove the other dashboard",
        }.get(status, "Grafana refused the request")
        return f"{what}: {status} {said}: {hint}" if said else f"{what}: {status}: {hint}"
    if isinstance(error, requests.exceptions.Timeout):
        return f"{what}: Grafana did not answer in time (--timeout): is it up?"
    if isinstance(error, requests.exceptions.ConnectionError):
        return f"{what}: cannot reach Grafana: is it running, and is --url right?"
    if isinstance(error, requests.exceptions.RequestException | ValueError):
        return f"{what}: unexpected answer from Grafana ({type(error).__name__}): check --url"
    raise error


def _message(response: Any) -> str:
    if isinstance(response, dict):
        return str(response.get("message", "")).strip()
    return str(response or "").strip().splitlines()[0][:200] if response else ""
