"""What `hostpulse-grafana push` has to change in a Grafana, decided without talking to it.

`desired()` builds the objects HostPulse wants (the folder, both datasources by uid, every
dashboard); `plan()` compares them with what Grafana returned for the same uids and says, per
object, create / update / unchanged and why. Secrets never enter a Change's text (`describe`);
a datasource password is sent only when Grafana says none is set (it never returns it, so an
existing one cannot be compared)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from dashboards.grafana.uids import (
    FOLDER_UID,
    POSTGRES_DATASOURCE_NAME,
    POSTGRES_DATASOURCE_TYPE,
    POSTGRES_DATASOURCE_UID,
    PROMETHEUS_DATASOURCE_NAME,
    PROMETHEUS_DATASOURCE_UID,
    SCRAPE_INTERVAL,
)

Json = dict[str, Any]
Kind = Literal["folder", "datasource", "dashboard"]
Action = Literal["create", "update", "unchanged"]

PUSH_MESSAGE = "hostpulse-grafana push"
# Datasource fields push manages; anything else an operator set in Grafana is kept.
_DATASOURCE_FIELDS = ("name", "type", "access", "url", "user")
# Fields Grafana adds to a stored dashboard that are not part of its content.
_DASHBOARD_VOLATILE = ("id", "version")


class PlanError(ValueError):
    """A setting push cannot use (e.g. a DSN it cannot read); the text says which and why."""


@dataclass(frozen=True)
class Postgres:
    """The PostgreSQL datasource's connection, from `--postgres-dsn` (never with a password)."""

    host: str
    database: str
    user: str
    sslmode: str

    @classmethod
    def from_dsn(cls, dsn: str) -> Postgres:
        parts = urlsplit(dsn)
        if parts.scheme not in {"postgres", "postgresql"}:
            raise PlanError(
                f"--postgres-dsn: expected postgresql://USER@HOST:PORT/DATABASE, got {dsn!r}"
            )
        if parts.password is not None:
            raise PlanError(
                "--postgres-dsn: leave the password out of the DSN (it would show in `ps`); "
                "give it in HOSTPULSE_GRAFANA_DB_PASSWORD or --postgres-password-file"
            )
        database = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not database:
            raise PlanError(f"--postgres-dsn: needs a host and a database name: {dsn!r}")
        sslmode = parse_qs(parts.query).get("sslmode", ["require"])[-1]
        return cls(
            host=f"{parts.hostname}:{parts.port or 5432}",
            database=database,
            user=unquote(parts.username or "hostpulse_grafana"),
            sslmode=sslmode,
        )


@dataclass(frozen=True)
class Desired:
    folder: Json  # {"uid", "title"}
    datasources: list[Json]  # API bodies, without secrets
    dashboards: list[Json]  # dashboard models (uid, title, panels, ...)
    postgres_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Current:
    """What Grafana answered for each uid; None where it answered 404."""

    folder: Json | None
    datasources: Mapping[str, Json | None]
    dashboards: Mapping[str, Json | None]  # GET /api/dashboards/uid/<uid>: {dashboard, meta}


@dataclass(frozen=True)
class Change:
    kind: Kind
    uid: str
    title: str
    action: Action
    why: str
    body: Json = field(default_factory=dict, repr=False)  # what to send; may hold a password

    def describe(self) -> str:
        """One line for the operator; never shows the body."""
        reason = f" ({self.why})" if self.why else ""
        return f"{self.action:<9} {self.kind:<10} {self.uid:<22} {self.title}{reason}"


def prometheus_datasource(url: str) -> Json:
    return {
        "uid": PROMETHEUS_DATASOURCE_UID,
        "name": PROMETHEUS_DATASOURCE_NAME,
        "type": "prometheus",
        "access": "proxy",
        "url": url,
        "jsonData": {"httpMethod": "POST", "timeInterval": SCRAPE_INTERVAL},
    }


def postgres_datasource(postgres: Postgres) -> Json:
    """As dashboards/grafana/provisioning/datasources/hostpulse.yaml defines it."""
    return {
        "uid": POSTGRES_DATASOURCE_UID,
        "name": POSTGRES_DATASOURCE_NAME,
        "type": POSTGRES_DATASOURCE_TYPE,
        "access": "proxy",
        "url": postgres.host,
        "user": postgres.user,
        "jsonData": {
            "database": postgres.database,
            "sslmode": postgres.sslmode,
            "postgresVersion": 1500,
            "timescaledb": False,
            "maxOpenConns": 10,
        },
    }


def read_dashboards(directory: Path) -> list[Json]:
    """Every dashboard JSON file of `directory`, in file-name order."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise PlanError(
            f"no dashboard JSON files in {directory} (run `hostpulse-grafana generate`)"
        )
    models: list[Json] = []
    for path in files:
        model = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(model, dict) or not model.get("uid"):
            raise PlanError(f"{path}: not a dashboard with a uid")
        models.append(model)
    return models


def desired(
    *,
    folder_title: str,
    prometheus_url: str,
    postgres: Postgres,
    dashboards: list[Json],
    postgres_password: str | None,
) -> Desired:
    return Desired(
        folder={"uid": FOLDER_UID, "title": folder_title},
        datasources=[prometheus_datasource(prometheus_url), postgres_datasource(postgres)],
        dashboards=dashboards,
        postgres_password=postgres_password,
    )


def plan(want: Desired, have: Current) -> list[Change]:
    """Folder first, then datasources, then dashboards: the order the changes must be made in."""
    changes = [_folder(want.folder, have.folder)]
    for datasource in want.datasources:
        password = want.postgres_password if datasource["uid"] == POSTGRES_DATASOURCE_UID else None
        changes.append(_datasource(datasource, have.datasources.get(datasource["uid"]), password))
    for model in want.dashboards:
        changes.append(_dashboard(model, have.dashboards.get(model["uid"]), want.folder["uid"]))
    return changes


def writes(changes: list[Change]) -> list[Change]:
    return [change for change in changes if change.action != "unchanged"]


def summary(changes: list[Change], *, dry_run: bool) -> str:
    todo = writes(changes)
    if not todo:
        return f"Grafana is up to date: nothing to change ({len(changes)} objects checked)"
    counts = {a: sum(c.action == a for c in todo) for a in ("create", "update")}
    if dry_run:
        done = f"would create {counts['create']} and update {counts['update']}"
    else:
        done = f"created {counts['create']} and updated {counts['update']}"
    return f"{done} of {len(changes)} objects" + (" (dry run: nothing was sent)" if dry_run else "")


def _folder(want: Json, have: Json | None) -> Change:
    uid, title = want["uid"], want["title"]
    if have is None:
        return Change("folder", uid, title, "create", "absent", {"uid": uid, "title": title})
    if have.get("title") != title:
        why = f"title {have.get('title')!r} → {title!r}"
        return Change("folder", uid, title, "update", why, {"title": title, "overwrite": True})
    return Change("folder", uid, title, "unchanged", "")


def _datasource(want: Json, have: Json | None, password: str | None) -> Change:
    uid, name = want["uid"], want["name"]
    secure = {"secureJsonData": {"password": password}} if password else {}
    if have is None:
        return Change("datasource", uid, name, "create", "absent", {**want, **secure})
    differs = [f for f in _DATASOURCE_FIELDS if f in want and have.get(f) != want[f]]
    have_json = have.get("jsonData") or {}
    differs += [f"jsonData.{k}" for k, v in want["jsonData"].items() if have_json.get(k) != v]
    why = f"differs: {', '.join(differs)}" if differs else ""
    password_missing = bool(password) and not (have.get("secureJsonFields") or {}).get("password")
    if password_missing:
        why = "; ".join(filter(None, [why, "password not set in Grafana"]))
    if not why:
        return Change("datasource", uid, name, "unchanged", "")
    body = {
        **{k: v for k, v in have.items() if k in ("basicAuth", "isDefault", "withCredentials")},
        **want,
        "jsonData": {**have_json, **want["jsonData"]},
        **(secure if password_missing else {}),
    }
    return Change("datasource", uid, name, "update", why, body)


def _dashboard(model: Json, have: Json | None, folder_uid: str) -> Change:
    uid, title = str(model["uid"]), str(model.get("title") or model["uid"])
    body = {
        "dashboard": {**model, "id": None},
        "folderUid": folder_uid,
        "overwrite": True,
        "message": PUSH_MESSAGE,
    }
    if have is None:
        return Change("dashboard", uid, title, "create", "absent", body)
    why = []
    if _content(have.get("dashboard") or {}) != _content(model):
        why.append("content differs")
    have_folder = (have.get("meta") or {}).get("folderUid", "")
    if have_folder != folder_uid:
        why.append(f"in folder {have_folder or 'General'!r}")
    if not why:
        return Change("dashboard", uid, title, "unchanged", "")
    return Change("dashboard", uid, title, "update", ", ".join(why), body)


def _content(model: Json) -> Json:
    return {k: v for k, v in model.items() if k not in _DASHBOARD_VOLATILE}
