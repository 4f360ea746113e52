"""In-process API fixtures: a fresh SQLite state per test, with projects, users and tokens.

Users are created once per session in a template database (password hashing is slow on
purpose) and each test gets its own copy of it, so tests never share state.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from v6fabric.api.app import create_app
from v6fabric.identity.service import IdentityService
from v6fabric.settings import Settings
from v6fabric.store.db import Database, migrate

PASSWORD = "secret-pass"
USERS = {
    # user: (project, role)
    "admin": ("admin", "admin"),
    "alice": ("alpha", "member"),
    "bob": ("beta", "member"),
    "rita": ("alpha", "reader"),
}


def _auth_body(user: str, project: str) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"id": "default"}, "password": PASSWORD}
                },
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }


@dataclass
class Template:
    path: Path
    tokens: dict[str, str]
    project_ids: dict[str, str]


@pytest.fixture(scope="session")
def identity_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    state = tmp_path_factory.mktemp("template")
    settings = Settings(state_dir=state)
    db = Database(settings.db_url)
    migrate(db)
    identity = IdentityService(db, settings)
    project_ids = {}
    for project in {p for p, _ in USERS.values()}:
        project_ids[project] = identity.create_project(project)["id"]
    tokens = {}
    for user, (project, role) in USERS.items():
        identity.create_user(user, PASSWORD, project=project, role=role)
        tokens[user], _ = identity.authenticate(_auth_body(user, project))
    db.dispose()
    return Template(state / "v6fabric.db", tokens, project_ids)


class Api:
    """A test client that acts as one user at a time."""

    def __init__(self, client: TestClient, template: Template) -> None:
        self.client = client
        self.tokens = template.tokens
        self.project_ids = template.project_ids

    def request(self, method: str, path: str, user: str = "alice", **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if user:
            headers["X-Auth-Token"] = self.tokens[user]
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, user: str = "alice", **kw: Any) -> Any:
        return self.request("GET", path, user, **kw)

    def post(self, path: str, body: Any, user: str = "alice") -> Any:
        return self.request("POST", path, user, json=body)

    def put(self, path: str, body: Any, user: str = "alice") -> Any:
        return self.request("PUT", path, user, json=body)

    def delete(self, path: str, user: str = "alice") -> Any:
        return self.request("DELETE", path, user)

    # helpers that must succeed
    def create(self, kind: str, user: str = "alice", **attrs: Any) -> dict[str, Any]:
        plural = "subnetpools" if kind == "subnetpool" else f"{kind}s"
        r = self.post(f"/v2.0/{plural}", {kind: attrs}, user)
        assert r.status_code == 201, r.text
        return r.json()[kind]

    def network(self, user: str = "alice", **attrs: Any) -> dict[str, Any]:
        return self.create("network", user, **attrs)

    def subnet(
        self, network_id: str, cidr: str, user: str = "alice", **attrs: Any
    ) -> dict[str, Any]:
        version = 6 if ":" in cidr else 4
        return self.create(
            "subnet", user, network_id=network_id, cidr=cidr, ip_version=version, **attrs
        )

    def port(self, network_id: str, user: str = "alice", **attrs: Any) -> dict[str, Any]:
        return self.create("port", user, network_id=network_id, **attrs)

    def routed(self, subnet_id: str, user: str = "alice", name: str = "r1") -> dict[str, Any]:
        """A new router with an interface on the subnet."""
        router = self.create("router", user, name=name)
        r = self.put(
            f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet_id}, user
        )
        assert r.status_code == 200, r.text
        return router

    def user_ports(self, query: str = "", user: str = "alice") -> list[dict[str, Any]]:
        """Ports listed, without the networks' own DHCP ports (which Neutron lists too)."""
        listed = self.get(f"/v2.0/ports{query}", user).json()["ports"]
        return [p for p in listed if p["device_owner"] != "network:dhcp"]


@pytest.fixture
def api(tmp_path: Path, identity_template: Template) -> Iterator[Api]:
    shutil.copy(identity_template.path, tmp_path / "v6fabric.db")
    settings = Settings(state_dir=tmp_path)
    app = create_app(settings)
    with TestClient(app) as client:
        yield Api(client, identity_template)
    app.state.db.dispose()


@pytest.fixture
def two_l3(api: Api) -> Api:
    """Two network hosts (``l3a``, ``l3b``) and a compute host (``c1``) registered."""
    for host, roles in (("l3a", ["network"]), ("l3b", ["compute", "network"]), ("c1", ["compute"])):
        r = api.put(f"/fabric/v1/hosts/{host}", {"roles": roles}, "admin")
        assert r.status_code == 200, r.text
    return api


@pytest.fixture
def quick_api(tmp_path: Path, identity_template: Template) -> Iterator[Api]:
    """The app with a 2 s down time: its own periodic task does the moving (the schedulers)."""
    shutil.copy(identity_template.path, tmp_path / "v6fabric.db")
    app = create_app(Settings(state_dir=tmp_path, l3_agent_down_seconds=2.0))
    with TestClient(app) as client:
        yield Api(client, identity_template)
    app.state.db.dispose()


def error_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"NeutronError"}, body
    return body["NeutronError"]


def assert_error(response: Any, status: int, type_name: str, message: str | None = None) -> None:
    """The response is Neutron's error of this status and type (and message, when given)."""
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["type"] == type_name, error
    if message is not None:
        assert error["message"] == message, error
