"""A stateful fake of the part of Grafana's HTTP API `hostpulse-grafana push` uses.

No Grafana server can run on this machine (none is installable from the reachable registries), so
the tests talk to this fake, served by pytest-httpserver on a real socket. It keeps folders,
datasources and dashboards as Grafana 11 does for these routes (answers and status codes as in
Grafana's HTTP API reference: 404 for a missing uid, 409 for a name taken by another uid, 412 for
a dashboard title taken in the folder, secrets never returned), records every request, and can be
told to fail a route with a given status."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

Json = dict[str, Any]
TOKEN = "glsa_fake-service-account-token-0123456789"
USER, PASSWORD = "admin", "s3cret-admin-password"


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # without the sub-path Grafana is served under
    authorization: str
    body: Any


@dataclass
class FakeGrafana:
    prefix: str = ""  # the sub-path Grafana is served under, e.g. "/grafana"
    folders: dict[str, Json] = field(default_factory=dict)
    datasources: dict[str, Json] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)  # datasource uid → secureJsonData
    dashboards: dict[str, Json] = field(default_factory=dict)  # uid → {"dashboard", "meta"}
    calls: list[Call] = field(default_factory=list)
    # (method, path regex) → (status, message): the next matching request fails like this.
    faults: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    _next_id: int = 1

    def install(self, server: HTTPServer) -> None:
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    def writes(self) -> list[Call]:
        return [call for call in self.calls if call.method != "GET"]

    def route_list(self) -> list[str]:
        return [f"{call.method} {call.path}" for call in self.calls]

    # -- the server side ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.removeprefix(self.prefix) if self.prefix else request.path
        body = request.get_json(silent=True) if request.data else None
        auth = request.headers.get("Authorization", "")
        self.calls.append(Call(request.method, path, auth, body))
        if request.path == path and self.prefix:
            return _answer(404, {"message": "Not found"})
        for (method, pattern), (status, message) in list(self.faults.items()):
            if method == request.method and re.fullmatch(pattern, path):
                del self.faults[(method, pattern)]
                return _answer(status, {"message": message})
        if path == "/api/health":
            return _answer(200, {"commit": "fake", "database": "ok", "version": "11.6.0"})
        if not self._authorized(auth):
            return _answer(401, {"message": "invalid API key", "statusCode": 401})
        return self._route(request.method, path, body)

    def _authorized(self, header: str) -> bool:
        if header == f"Bearer {TOKEN}":
            return True
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return header == f"Basic {basic}"

    def _route(self, method: str, path: str, body: Any) -> Response:
        routes: list[tuple[str, str, Callable[..., tuple[int, Json]]]] = [
            ("GET", r"/api/folders/([^/]+)", self._get_folder),
            ("POST", r"/api/folders", self._create_folder),
            ("PUT", r"/api/folders/([^/]+)", self._update_folder),
            ("GET", r"/api/datasources/uid/([^/]+)", self._get_datasource),
            ("POST", r"/api/datasources", self._create_datasource),
            ("PUT", r"/api/datasources/uid/([^/]+)", self._update_datasource),
            ("GET", r"/api/dashboards/uid/([^/]+)", self._get_dashboard),
            ("POST", r"/api/dashboards/db", self._save_dashboard),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                status, answer = handler(body, *match.groups())
                return _answer(status, answer)
        return _answer(404, {"message": "Not found"})

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _get_folder(self, _body: Any, uid: str) -> tuple[int, Json]:
        if uid not in self.folders:
            return 404, {"message": "folder not found", "status": "not-found"}
        return 200, self.folders[uid]

    def _create_folder(self, body: Json) -> tuple[int, Json]:
        if any(f["title"] == body["title"] for f in self.folders.values()):
            return 409, {"message": "a folder with the same name already exists"}
        if body.get("uid") in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        folder = {"id": self._id(), "uid": body["uid"], "title": body["title"], "version": 1}
        self.folders[body["uid"]] = folder
        return 200, folder

    def _update_folder(self, body: Json, uid: str) -> tuple[int, Json]:
        if uid not in self.folders:
            return 404, {"message": "folder not found"}
        folder = self.folders[uid]
        folder.update(title=body["title"], version=folder["version"] + 1)
        return 200, folder

    def _get_datasource(self, _body: Any, uid: str) -> tuple[int, Json]:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        stored = dict(self.datasources[uid])
        stored["secureJsonFields"] = {"password": True} if uid in self.passwords else {}
        return 200, stored

    def _create_datasource(self, body: Json) -> tuple[int, Json]:
        if any(d["name"] == body["name"] for d in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        if body.get("uid") in self.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        datasource = self._store_datasource(body, {"id": self._id(), "version": 1})
        return 200, {
            "datasource": datasource,
            "id": datasource["id"],
            "message": "Datasource added",
        }

    def _update_datasource(self, body: Json, uid: str) -> tuple[int, Json]:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        old = self.datasources[uid]
        if old.get("readOnly"):
            return 403, {"message": "Cannot update read-only data source"}
        datasource = self._store_datasource(
            {**body, "uid": uid}, {"id": old["id"], "version": old["version"] + 1}
        )
        return 200, {"datasource": datasource, "message": "Datasource updated"}

    def _store_datasource(self, body: Json, extra: Json) -> Json:
        secure = body.get("secureJsonData") or {}
        if "password" in secure:
            self.passwords[body["uid"]] = secure["password"]
        stored = {
            "orgId": 1,
            "basicAuth": False,
            "isDefault": False,
            "readOnly": False,
            "user": "",
            "database": "",
            **{k: v for k, v in body.items() if k != "secureJsonData"},
            **extra,
        }
        self.datasources[body["uid"]] = stored
        return stored

    def _get_dashboard(self, _body: Any, uid: str) -> tuple[int, Json]:
        if uid not in self.dashboards:
            return 404, {"message": "Dashboard not found"}
        return 200, self.dashboards[uid]

    def _save_dashboard(self, body: Json) -> tuple[int, Json]:
        model, folder_uid = dict(body["dashboard"]), body.get("folderUid", "")
        if folder_uid and folder_uid not in self.folders:
            return 400, {"message": "folder not found"}
        uid = model["uid"]
        for other_uid, other in self.dashboards.items():
            same_title = other["dashboard"]["title"] == model["title"]
            if other_uid != uid and same_title and other["meta"]["folderUid"] == folder_uid:
                return 412, {
                    "message": "A dashboard with the same name in the folder already exists",
                    "status": "name-exists",
                }
        old = self.dashboards.get(uid)
        if old is not None and not body.get("overwrite"):
            return 412, {"message": "The dashboard has been changed by someone else"}
        model["id"] = old["dashboard"]["id"] if old else self._id()
        model["version"] = old["dashboard"]["version"] + 1 if old else 1
        self.dashboards[uid] = {
            "dashboard": model,
            "meta": {"folderUid": folder_uid, "slug": uid, "provisioned": False},
        }
        return 200, {
            "id": model["id"],
            "uid": uid,
            "status": "success",
            "version": model["version"],
        }


def _answer(status: int, body: Json) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
