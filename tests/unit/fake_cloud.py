"""An in-process fake of the Keystone v3 + Neutron v2.0 wire (for httpx.MockTransport).

The fake is deliberately small: it answers the way the real API does on the wire (wrapped bodies,
`<plural>_links` pagination, NeutronError / Keystone error bodies), so the CLI tests pin what the
CLI sends and how it reads answers without any server code.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx

ENDPOINT = "http://fabric.test:9696"
TOKEN = "token-1"
PROJECT_ID = "p" * 32
ENV = {
    "OS_AUTH_URL": f"{ENDPOINT}/identity",
    "OS_USERNAME": "admin",
    "OS_PASSWORD": "secret",
    "OS_PROJECT_NAME": "admin",
    "OS_USER_DOMAIN_NAME": "Default",
    "OS_PROJECT_DOMAIN_NAME": "Default",
}


def neutron_error(status: int, type_name: str, message: str) -> httpx.Response:
    body = {"NeutronError": {"type": type_name, "message": message, "detail": ""}}
    return httpx.Response(status, json=body)


class FakeCloud:
    """Keystone token issue plus Neutron (and /fabric/v1 workload) CRUD over dicts; records
    every request."""

    def __init__(self, page_size: int | None = None) -> None:
        self.page_size = page_size
        self.requests: list[httpx.Request] = []
        self.store: dict[str, dict[str, dict[str, Any]]] = {
            "networks": {},
            "subnets": {},
            "subnetpools": {},
            "ports": {},
            "routers": {},
            "upstream_routes": {},
            "security-groups": {},
            "security-group-rules": {},
            "workloads": {},  # /fabric/v1
        }
        self.quotas: dict[str, dict[str, int]] = {}
        self.fail_next: httpx.Response | None = None

    def add(self, plural: str, **attributes: Any) -> dict[str, Any]:
        attributes.setdefault("id", str(uuid.uuid4()))
        self.store[plural][attributes["id"]] = attributes
        return attributes

    def bodies(self, method: str, path: str) -> list[Any]:
        """JSON bodies of the requests sent with this method to this path."""
        return [
            json.loads(r.content)
            for r in self.requests
            if r.method == method and r.url.path == path
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/identity/v3/auth/tokens" and request.method == "POST":
            return self._issue_token(json.loads(request.content))
        if request.headers.get("X-Auth-Token") != TOKEN:
            return httpx.Response(401, json={"error": {"code": 401, "title": "Unauthorized"}})
        if self.fail_next is not None:
            response, self.fail_next = self.fail_next, None
            return response
        match = re.fullmatch(r"/(?:v2\.0|fabric/v1)/([\w-]+)(?:/([^/]+))?", request.url.path)
        if not match:
            return neutron_error(404, "HTTPNotFound", "The resource could not be found.")
        plural, resource_id = match.groups()
        if plural == "quotas":
            return self._quota(request, resource_id or "")
        return self._resource(request, plural, resource_id)

    def _issue_token(self, body: dict[str, Any]) -> httpx.Response:
        password = body["auth"]["identity"]["password"]["user"]["password"]
        if password != ENV["OS_PASSWORD"]:
            error = {"code": 401, "title": "Unauthorized", "message": "Invalid credentials"}
            return httpx.Response(401, json={"error": error})
        endpoints = [
            {"interface": "internal", "region": "RegionOne", "url": "http://internal.test:9696"},
            {"interface": "public", "region": "RegionOne", "url": ENDPOINT},
            {"interface": "public", "region": "RegionTwo", "url": "http://two.test:9696/v2.0/"},
        ]
        token = {
            "expires_at": "2030-01-01T00:00:00Z",
            "project": {"id": PROJECT_ID, "name": "admin", "domain": {"name": "Default"}},
            "user": {"id": "u" * 32, "name": "admin"},
            "catalog": [
                {"type": "identity", "endpoints": []},
                {"type": "network", "name": "neutron", "endpoints": endpoints},
            ],
        }
        return httpx.Response(201, json={"token": token}, headers={"X-Subject-Token": TOKEN})

    def _quota(self, request: httpx.Request, project_id: str) -> httpx.Response:
        quota = self.quotas.setdefault(project_id, {"network": 100, "subnet": 100, "port": 500})
        if request.method == "PUT":
            quota.update(json.loads(request.content)["quota"])
        return httpx.Response(200, json={"quota": quota})

    def _resource(
        self, request: httpx.Request, plural: str, resource_id: str | None
    ) -> httpx.Response:
        key = plural[:-1].replace("-", "_")
        items = self.store[plural]
        if resource_id is None and request.method == "GET":
            return self._list(request, plural)
        if resource_id is None and request.method == "POST":
            created = self.add(plural, **json.loads(request.content)[key])
            return httpx.Response(201, json={key: created})
        if resource_id not in items:
            message = f"{key.capitalize()} {resource_id} could not be found."
            return neutron_error(404, f"{key.capitalize()}NotFound", message)
        if request.method == "GET":
            return httpx.Response(200, json={key: items[resource_id]})
        if request.method == "PUT":
            items[resource_id].update(json.loads(request.content)[key])
            return httpx.Response(200, json={key: items[resource_id]})
        del items[resource_id]
        return httpx.Response(204)

    def _list(self, request: httpx.Request, plural: str) -> httpx.Response:
        rows = list(self.store[plural].values())
        for name, value in request.url.params.multi_items():
            if name in ("marker", "limit"):
                continue
            if name == "fixed_ips":
                field, _, wanted = value.partition("=")
                attribute = field.removesuffix("_substr")
                rows = [
                    r
                    for r in rows
                    if any(
                        wanted in ip[attribute]
                        if field.endswith("_substr")
                        else ip[field] == wanted
                        for ip in r.get("fixed_ips", [])
                    )
                ]
            else:
                rows = [r for r in rows if str(r.get(name)) == value]
        links = []
        if self.page_size:
            marker = request.url.params.get("marker")
            start = next((i + 1 for i, r in enumerate(rows) if r["id"] == marker), 0)
            page = rows[start : start + self.page_size]
            if start + self.page_size < len(rows):
                next_url = request.url.copy_set_param("marker", page[-1]["id"])
                links.append({"rel": "next", "href": str(next_url)})
            rows = page
        collection = plural.replace("-", "_")
        return httpx.Response(200, json={collection: rows, f"{collection}_links": links})
