"""The Keystone v3 subset over HTTP: in-process with TestClient, and keystoneauth1 (the library
under openstacksdk and the openstack CLI) against a real uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from keystoneauth1 import session
from keystoneauth1.identity import v3

from v6fabric.api.keystone.routes import router
from v6fabric.identity import passwords
from v6fabric.identity.service import IdentityService
from v6fabric.settings import Settings
from v6fabric.store.db import Database, migrate

UNAUTHORIZED = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}


def build_app(tmp_path: Path, settings: Settings) -> FastAPI:
    db = Database(f"sqlite:///{tmp_path / 'v6fabric.db'}")
    migrate(db)
    identity = IdentityService(db, settings)
    identity.create_project("demo")
    identity.create_user("alice", "alice-pw", "demo", "member")
    identity.create_user("bob", "bob-pw", "demo", "member")
    identity.create_project("admin")
    identity.create_user("admin", "admin-pw", "admin", "admin")
    app = FastAPI()
    app.state.settings = settings
    app.state.db = db
    app.state.identity = identity
    app.include_router(router, prefix="/identity")
    return app


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "LOG2_N", 4)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, api_host="127.0.0.1", api_port=9696)


@pytest.fixture
def client(tmp_path: Path, settings: Settings) -> Iterator[TestClient]:
    app = build_app(tmp_path, settings)
    with TestClient(app) as test_client:
        yield test_client
    app.state.db.dispose()


def auth_body(user: str, password: str, project: str | None = "demo") -> dict[str, Any]:
    user_ref = {"name": user, "domain": {"name": "Default"}, "password": password}
    body: dict[str, Any] = {
        "auth": {"identity": {"methods": ["password"], "password": {"user": user_ref}}}
    }
    if project is not None:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return body


def issue(client: TestClient, user: str, password: str, project: str = "demo") -> str:
    response = client.post("/identity/v3/auth/tokens", json=auth_body(user, password, project))
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def test_version_documents(client: TestClient, settings: Settings) -> None:
    for path in ("/identity", "/identity/"):
        response = client.get(path)
        assert response.status_code == 300
        (version,) = response.json()["versions"]["values"]
        assert version["id"] == "v3.14" and version["status"] == "stable"
        assert version["links"] == [{"rel": "self", "href": settings.identity_url + "/"}]
        assert version["media-types"][0]["type"] == "application/vnd.openstack.identity-v3+json"
    for path in ("/identity/v3", "/identity/v3/"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json()["version"] == version


def test_issue_token(client: TestClient, settings: Settings) -> None:
    response = client.post("/identity/v3/auth/tokens", json=auth_body("alice", "alice-pw"))
    assert response.status_code == 201
    assert response.headers["X-Subject-Token"]
    token = response.json()["token"]
    assert token["user"]["name"] == "alice" and token["project"]["name"] == "demo"
    assert {entry["type"] for entry in token["catalog"]} == {"network", "identity"}
    nocatalog = client.post(
        "/identity/v3/auth/tokens?nocatalog", json=auth_body("alice", "alice-pw")
    )
    assert "catalog" not in nocatalog.json()["token"]


@pytest.mark.parametrize(
    "body",
    [
        auth_body("alice", "wrong"),
        auth_body("nobody", "alice-pw"),
        auth_body("alice", "alice-pw", "admin"),  # no role there
    ],
)
def test_bad_credentials_get_keystone_401(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/identity/v3/auth/tokens", json=body)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert "X-Subject-Token" not in response.headers


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "Expecting to find auth in request body"),
        (b'{"auth": {}}', "Expecting to find identity in auth"),
        (b'{"auth": {"identity": {"methods": ["password"]}}}', "Expecting to find password"),
    ],
)
def test_malformed_requests_get_keystone_400(
    client: TestClient, content: bytes, fragment: str
) -> None:
    response = client.post(
        "/identity/v3/auth/tokens", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and error["title"] == "Bad Request"
    assert fragment in error["message"]


def test_validate_and_revoke(client: TestClient) -> None:
    alice = issue(client, "alice", "alice-pw")
    bob = issue(client, "bob", "bob-pw")
    admin = issue(client, "admin", "admin-pw", "admin")
    url = "/identity/v3/auth/tokens"

    own = client.get(url, headers={"X-Auth-Token": alice, "X-Subject-Token": alice})
    assert own.status_code == 200 and own.headers["X-Subject-Token"] == alice
    assert own.json()["token"]["user"]["name"] == "alice"
    head = client.head(url, headers={"X-Auth-Token": admin, "X-Subject-Token": alice})
    assert head.status_code == 200 and head.content == b""

    forbidden = client.get(url, headers={"X-Auth-Token": bob, "X-Subject-Token": alice})
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["title"] == "Forbidden"
    assert client.get(url, headers={"X-Subject-Token": alice}).json() == UNAUTHORIZED
    missing = client.get(url, headers={"X-Auth-Token": admin, "X-Subject-Token": "bogus"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404

    assert (
        client.delete(url, headers={"X-Auth-Token": bob, "X-Subject-Token": alice}).status_code
        == 403
    )
    revoked = client.delete(url, headers={"X-Auth-Token": alice, "X-Subject-Token": alice})
    assert revoked.status_code == 204
    after = client.get(url, headers={"X-Auth-Token": admin, "X-Subject-Token": alice})
    assert after.status_code == 404
    assert client.app.state.identity.validate_token(bob).user_name == "bob"


def test_projects_and_users_for_admins(client: TestClient, settings: Settings) -> None:
    admin = {"X-Auth-Token": issue(client, "admin", "admin-pw", "admin")}
    alice = {"X-Auth-Token": issue(client, "alice", "alice-pw")}
    projects = client.get("/identity/v3/projects", headers=admin).json()["projects"]
    assert sorted(p["name"] for p in projects) == ["admin", "demo"]
    (demo,) = client.get("/identity/v3/projects?name=demo", headers=admin).json()["projects"]
    assert demo["domain_id"] == "default" and demo["is_domain"] is False
    assert demo["links"]["self"] == f"{settings.identity_url}/projects/{demo['id']}"
    shown = client.get(f"/identity/v3/projects/{demo['id']}", headers=alice)
    assert shown.status_code == 200 and shown.json()["project"]["name"] == "demo"
    assert client.get("/identity/v3/projects/demo", headers=admin).status_code == 404
    assert client.get("/identity/v3/projects", headers=alice).status_code == 403
    assert client.get("/identity/v3/projects").status_code == 401
    users = client.get("/identity/v3/users", headers=admin).json()["users"]
    assert sorted(u["name"] for u in users) == ["admin", "alice", "bob"]
    assert all("password_hash" not in u and "roles" not in u for u in users)
    alice_id = next(u["id"] for u in users if u["name"] == "alice")
    assert client.get(f"/identity/v3/users/{alice_id}", headers=alice).status_code == 200
    assert client.get("/identity/v3/users", headers=alice).status_code == 403


# --- a real client over real HTTP -----------------------------------------------------------


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Settings]:
    """The router served by uvicorn on a free loopback port; yields its settings."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    settings = Settings(state_dir=tmp_path, api_host="127.0.0.1", api_port=sock.getsockname()[1])
    app = build_app(tmp_path, settings)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield settings
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.db.dispose()


def test_keystoneauth_password_session(live_server: Settings) -> None:
    auth = v3.Password(
        auth_url=live_server.identity_url,
        username="alice",
        password="alice-pw",
        project_name="demo",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    sess = session.Session(auth=auth)
    token = sess.get_token()
    assert token
    assert sess.get_endpoint(service_type="network", interface="public") == live_server.base_url
    assert sess.get_project_id() == auth.get_access(sess).project_id
    validated = sess.get(
        f"{live_server.identity_url}/auth/tokens",
        headers={"X-Subject-Token": token},
        authenticated=True,
    )
    assert validated.json()["token"]["user"]["name"] == "alice"


def test_keystoneauth_rejects_wrong_password(live_server: Settings) -> None:
    from keystoneauth1 import exceptions

    auth = v3.Password(
        auth_url=live_server.identity_url,
        username="alice",
        password="nope",
        project_name="demo",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    with pytest.raises(exceptions.Unauthorized):
        session.Session(auth=auth).get_token()
