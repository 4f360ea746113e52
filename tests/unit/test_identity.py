"""Identity: password hashing, users and projects, token issue/validate/expire/revoke, caching,
and the first-start admin with its credential files."""

from __future__ import annotations

import os
import re
import shlex
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import delete, func, select

from v6fabric.domain.errors import (
    BadRequest,
    Conflict,
    NotAuthenticated,
    NotFound,
    PolicyNotAuthorized,
)
from v6fabric.identity import passwords
from v6fabric.identity.passwords import hash_password, needs_rehash, verify_password
from v6fabric.identity.service import IdentityService
from v6fabric.settings import Settings
from v6fabric.store.db import Database, migrate
from v6fabric.store.tables import role_assignments, tokens, users

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Service tests hash many passwords; the cost parameter is not what they test."""
    monkeypatch.setattr(passwords, "LOG2_N", 4)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database: SQLite, and PostgreSQL when the test server is there."""
    database = Database(database_url)
    migrate(database)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, token_ttl_seconds=3600, token_cache_seconds=60.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def identity(
    cheap_hashing: None, db: Database, settings: Settings, clock: FakeClock
) -> IdentityService:
    service = IdentityService(db, settings, clock=clock)
    service.create_project("demo", "a tenant")
    service.create_user("alice", "alice-pw", "demo", "member")
    return service


def password_auth(
    name: str, password: str, project: str | None = "demo", **user: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": name, "domain": {"name": "Default"}, "password": password}
                    | user
                },
            }
        }
    }
    if project is not None:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return body


def token_auth(token: str, project_id: str) -> dict[str, Any]:
    identity = {"methods": ["token"], "token": {"id": token}}
    return {"auth": {"identity": identity, "scope": {"project": {"id": project_id}}}}


# --- passwords ------------------------------------------------------------------------------


def test_password_hash_verifies_and_is_salted() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("$scrypt$ln=15,r=8,p=1$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert hash_password("correct horse") != encoded
    assert not needs_rehash(encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plaintext",
        "$scrypt$garbage",
        "$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=4,r=8,p=1$!!!$AAAA",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    ],
)
def test_malformed_or_foreign_hashes_never_verify(encoded: str) -> None:
    assert not verify_password("anything", encoded)
    assert needs_rehash(encoded)


def test_missing_user_never_verifies(cheap_hashing: None) -> None:
    assert not verify_password("", None)
    assert not verify_password("x", None)


def test_weaker_hash_needs_rehash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "LOG2_N", 4)
    weak = hash_password("pw")
    monkeypatch.setattr(passwords, "LOG2_N", 5)
    assert verify_password("pw", weak)
    assert needs_rehash(weak)


# --- projects, users, roles -----------------------------------------------------------------


def test_projects_and_users(identity: IdentityService) -> None:
    assert [p["name"] for p in identity.list_projects()] == ["demo"]
    demo = identity.get_project("demo")
    assert identity.get_project(demo["id"]) == demo
    assert demo["description"] == "a tenant"
    alice = identity.get_user("alice")
    assert alice["default_project_id"] == demo["id"]
    assert alice["roles"] == [{"project_id": demo["id"], "project_name": "demo", "role": "member"}]
    with pytest.raises(Conflict):
        identity.create_project("demo")
    with pytest.raises(Conflict):
        identity.create_user("alice", "pw", "demo", "reader")
    with pytest.raises(NotFound):
        identity.create_user("bob", "pw", "nope", "member")
    with pytest.raises(BadRequest):
        identity.create_user("bob", "pw", "demo", "owner")
    with pytest.raises(BadRequest):
        identity.create_user("bob", "pw", None, "member")
    with pytest.raises(BadRequest):
        identity.create_user("bob", "", "demo")
    with pytest.raises(BadRequest):
        identity.create_project("x" * 256)
    with pytest.raises(BadRequest):
        identity.create_project("long", "x" * 256)
    with pytest.raises(NotFound):
        identity.assign_role("nobody", "demo", "reader")
    bob = identity.create_user("bob", "bob-pw", "demo")  # role defaults to member
    assert [g["role"] for g in bob["roles"]] == ["member"]
    identity.assign_role("bob", "demo", "admin")
    identity.assign_role("bob", "demo", "admin")  # idempotent, as Keystone's PUT
    assert [g["role"] for g in identity.get_user("bob")["roles"]] == ["admin", "member"]
    assert [u["name"] for u in identity.list_users()] == ["alice", "bob"]


# --- tokens ---------------------------------------------------------------------------------


def test_password_token_has_keystone_shape(identity: IdentityService, settings: Settings) -> None:
    token, body = identity.authenticate(password_auth("alice", "alice-pw"))
    assert len(token) >= 40
    t = body["token"]
    demo, alice = identity.get_project("demo"), identity.get_user("alice")
    assert t["methods"] == ["password"]
    assert t["user"] == {
        "id": alice["id"],
        "name": "alice",
        "domain": {"id": "default", "name": "Default"},
        "password_expires_at": None,
    }
    assert t["project"] == {
        "id": demo["id"],
        "name": "demo",
        "domain": {"id": "default", "name": "Default"},
    }
    assert t["is_domain"] is False
    assert [r["name"] for r in t["roles"]] == ["member", "reader"]  # member implies reader
    assert ISO_Z.match(t["issued_at"]) and ISO_Z.match(t["expires_at"])
    assert len(t["audit_ids"]) == 1
    catalog = {entry["type"]: entry for entry in t["catalog"]}
    assert catalog["network"]["name"] == "neutron"
    assert catalog["identity"]["name"] == "keystone"
    network_endpoints = catalog["network"]["endpoints"]
    assert {e["interface"] for e in network_endpoints} == {"public", "internal", "admin"}
    assert {e["url"] for e in network_endpoints} == {settings.base_url}
    assert {e["region_id"] for e in network_endpoints} == {settings.region}
    assert {e["url"] for e in catalog["identity"]["endpoints"]} == {settings.identity_url}
    context = identity.validate_token(token)
    assert (context.user_name, context.project_name) == ("alice", "demo")
    assert context.roles == frozenset({"member", "reader"}) and not context.is_admin
    assert context.can_write
    assert identity.token_body(token)["token"]["expires_at"] == t["expires_at"]
    assert "catalog" not in identity.token_body(token, catalog=False)["token"]


def test_token_is_stored_only_as_hash(identity: IdentityService, db: Database) -> None:
    token, _ = identity.authenticate(password_auth("alice", "alice-pw"))
    with db.read() as conn:
        stored = conn.execute(select(tokens.c.id_hash)).scalars().all()
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64


def test_authenticate_by_ids(identity: IdentityService) -> None:
    alice, demo = identity.get_user("alice"), identity.get_project("demo")
    body = password_auth("alice", "alice-pw", None)
    body["auth"]["identity"]["password"]["user"] = {"id": alice["id"], "password": "alice-pw"}
    body["auth"]["scope"] = {"project": {"id": demo["id"]}}
    _, token_body = identity.authenticate(body)
    assert token_body["token"]["project"]["id"] == demo["id"]


@pytest.mark.parametrize(
    "body",
    [
        password_auth("alice", "wrong"),
        password_auth("mallory", "alice-pw"),
        password_auth("alice", "alice-pw", domain={"name": "Other"}),
        password_auth("alice", "alice-pw", "nope"),
        password_auth("alice", "alice-pw", id={"not": "a string"}),
        {"auth": {"identity": {"methods": []}}},
        {"auth": {"identity": {"methods": ["password", "token"]}}},
        {"auth": {"identity": {"methods": ["totp"], "totp": {}}}},
        {"auth": {"identity": {"methods": ["token"], "token": {"id": "not-a-token"}}}},
    ],
)
def test_bad_credentials_are_401(identity: IdentityService, body: dict[str, Any]) -> None:
    with pytest.raises(NotAuthenticated):
        identity.authenticate(body)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"auth": {}},
        {"auth": {"identity": {}}},
        {"auth": {"identity": {"methods": ["password"]}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "a"}}}}},
        password_auth("alice", "alice-pw", domain=None),
        [],
        None,
    ],
)
def test_malformed_bodies_are_400(identity: IdentityService, body: Any) -> None:
    with pytest.raises(BadRequest, match="Expecting to find"):
        identity.authenticate(body)


def test_role_is_required_on_the_scoped_project(identity: IdentityService) -> None:
    identity.create_project("other")
    with pytest.raises(NotAuthenticated):
        identity.authenticate(password_auth("alice", "alice-pw", "other"))
    identity.assign_role("alice", "other", "reader")
    token, body = identity.authenticate(password_auth("alice", "alice-pw", "other"))
    assert [r["name"] for r in body["token"]["roles"]] == ["reader"]
    context = identity.validate_token(token)
    assert context.roles == frozenset({"reader"}) and not context.can_write


def test_admin_role_implies_member_and_reader(identity: IdentityService) -> None:
    identity.assign_role("alice", "demo", "admin")
    token, body = identity.authenticate(password_auth("alice", "alice-pw"))
    assert [r["name"] for r in body["token"]["roles"]] == ["admin", "member", "reader"]
    assert identity.validate_token(token).is_admin


def test_no_scope_uses_default_project_else_unscoped(identity: IdentityService) -> None:
    _, body = identity.authenticate(password_auth("alice", "alice-pw", None))
    assert body["token"]["project"]["name"] == "demo"
    identity.create_user("loner", "loner-pw")
    token, body = identity.authenticate(password_auth("loner", "loner-pw", None))
    assert not {"project", "catalog", "roles"} & body["token"].keys()
    with pytest.raises(NotAuthenticated):
        identity.validate_token(token)  # unscoped tokens cannot call the API
    assert identity.token_body(token)["token"]["user"]["name"] == "loner"


def test_rescope_with_token_keeps_expiry(identity: IdentityService, clock: FakeClock) -> None:
    identity.create_user("carol", "carol-pw")
    unscoped, first = identity.authenticate(password_auth("carol", "carol-pw", None))
    demo = identity.get_project("demo")
    with pytest.raises(NotAuthenticated):
        identity.authenticate(token_auth(unscoped, demo["id"]))  # no role yet
    identity.assign_role("carol", "demo", "member")
    clock.now += 100
    scoped, body = identity.authenticate(token_auth(unscoped, demo["id"]))
    assert body["token"]["methods"] == ["token", "password"]
    assert body["token"]["expires_at"] == first["token"]["expires_at"]
    assert identity.validate_token(scoped).project_id == demo["id"]


def test_tokens_expire_even_when_cached(identity: IdentityService, clock: FakeClock) -> None:
    token, _ = identity.authenticate(password_auth("alice", "alice-pw"))
    identity.validate_token(token)  # now cached for 60 s
    clock.now += 3599
    identity.validate_token(token)
    clock.now += 2
    with pytest.raises(NotAuthenticated):
        identity.validate_token(token)
    with pytest.raises(NotFound):
        identity.token_body(token)
    with pytest.raises(NotAuthenticated):
        identity.authenticate(token_auth(token, identity.get_project("demo")["id"]))


def test_revoke_takes_effect_despite_cache(identity: IdentityService) -> None:
    token, _ = identity.authenticate(password_auth("alice", "alice-pw"))
    other, _ = identity.authenticate(password_auth("alice", "alice-pw"))
    identity.validate_token(token)
    identity.revoke(token)
    with pytest.raises(NotAuthenticated):
        identity.validate_token(token)
    with pytest.raises(NotFound):
        identity.revoke(token)
    assert identity.validate_token(other).user_name == "alice"


def test_changes_elsewhere_take_effect_after_cache_time(
    cheap_hashing: None, db: Database, settings: Settings
) -> None:
    """Another server (here: direct SQL) removes the role: honoured within the cache time."""
    first = IdentityService(db, replace(settings, token_cache_seconds=0.3))
    first.create_project("demo")
    first.create_user("alice", "alice-pw", "demo", "member")
    token, _ = first.authenticate(password_auth("alice", "alice-pw"))
    first.validate_token(token)
    db.write(lambda txn: txn.conn.execute(delete(role_assignments)))
    first.validate_token(token)  # still cached
    time.sleep(0.4)
    with pytest.raises(NotAuthenticated):
        first.validate_token(token)


def test_changes_here_take_effect_at_once(identity: IdentityService) -> None:
    token, _ = identity.authenticate(password_auth("alice", "alice-pw"))
    identity.validate_token(token)
    identity.set_project_enabled("demo", False)
    with pytest.raises(NotAuthenticated):
        identity.validate_token(token)
    identity.set_project_enabled("demo", True)
    identity.validate_token(token)
    identity.set_user_enabled("alice", False)
    with pytest.raises(NotAuthenticated):
        identity.validate_token(token)
    with pytest.raises(NotAuthenticated):
        identity.authenticate(password_auth("alice", "alice-pw"))
    identity.set_user_enabled("alice", True)
    identity.validate_token(token)
    identity.remove_role("alice", "demo", "member")
    with pytest.raises(NotAuthenticated):
        identity.validate_token(token)
    with pytest.raises(NotFound):
        identity.remove_role("alice", "demo", "member")


def test_validate_from_many_threads(identity: IdentityService) -> None:
    issued = [identity.authenticate(password_auth("alice", "alice-pw"))[0] for _ in range(5)]
    identity.clear_cache()
    with ThreadPoolExecutor(max_workers=16) as pool:
        names = list(pool.map(lambda t: identity.validate_token(t).user_name, issued * 40))
    assert names == ["alice"] * 200


def test_expired_tokens_are_purged(
    identity: IdentityService, db: Database, clock: FakeClock
) -> None:
    for _ in range(3):
        identity.authenticate(password_auth("alice", "alice-pw"))
    clock.now += 3600 + 61
    identity.authenticate(password_auth("alice", "alice-pw"))
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(tokens)).scalar_one() == 1


def test_outdated_password_hash_is_replaced_on_login(
    identity: IdentityService, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stored() -> str:
        with db.read() as conn:
            return conn.execute(
                select(users.c.password_hash).where(users.c.name == "alice")
            ).scalar_one()

    before = stored()
    monkeypatch.setattr(passwords, "LOG2_N", 5)
    identity.authenticate(password_auth("alice", "alice-pw"))
    after = stored()
    assert after != before and after.startswith("$scrypt$ln=5,")
    identity.authenticate(password_auth("alice", "alice-pw"))


def test_token_access_is_owner_or_admin(identity: IdentityService) -> None:
    identity.create_user("bob", "bob-pw", "demo", "member")
    alice, _ = identity.authenticate(password_auth("alice", "alice-pw"))
    bob, _ = identity.authenticate(password_auth("bob", "bob-pw"))
    identity.check_token_access(alice, alice)
    with pytest.raises(PolicyNotAuthorized):
        identity.check_token_access(bob, alice)
    with pytest.raises(NotFound):
        identity.check_token_access(alice, "no-such-token")
    with pytest.raises(NotAuthenticated):
        identity.check_token_access("no-such-token", alice)
    identity.assign_role("bob", "demo", "admin")
    identity.check_token_access(bob, alice)


# --- first start ----------------------------------------------------------------------------


def read_openrc(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            values[name] = shlex.split(value)[0]
    return values


def test_ensure_admin_writes_private_credentials(
    cheap_hashing: None, db: Database, settings: Settings, tmp_path: Path
) -> None:
    identity = IdentityService(db, settings)
    credentials = tmp_path / "credentials"
    old_umask = os.umask(0)  # even with a permissive umask the files must be 0600
    try:
        openrc = identity.ensure_admin(credentials)
    finally:
        os.umask(old_umask)
    assert openrc == credentials / "admin-openrc.sh"
    clouds = credentials / "clouds.yaml"
    for path in (openrc, clouds):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700
    assert sorted(p.name for p in credentials.iterdir()) == ["admin-openrc.sh", "clouds.yaml"]
    env = read_openrc(openrc)
    assert env["OS_AUTH_URL"] == settings.identity_url
    assert env["OS_USERNAME"] == "admin" and env["OS_PROJECT_NAME"] == "admin"
    assert env["OS_USER_DOMAIN_NAME"] == env["OS_PROJECT_DOMAIN_NAME"] == "Default"
    assert env["OS_IDENTITY_API_VERSION"] == "3"
    assert env["OS_REGION_NAME"] == settings.region
    assert len(env["OS_PASSWORD"]) >= 24
    cloud = yaml.safe_load(clouds.read_text())["clouds"]["v6fabric"]
    assert cloud["auth"]["password"] == env["OS_PASSWORD"]
    assert cloud["auth"]["auth_url"] == settings.identity_url
    assert cloud["region_name"] == settings.region and cloud["identity_api_version"] == 3
    token, _ = identity.authenticate(password_auth("admin", env["OS_PASSWORD"], "admin"))
    assert identity.validate_token(token).is_admin
    # Later starts keep the admin and the files as they are.
    assert identity.ensure_admin(credentials) == openrc
    assert read_openrc(openrc)["OS_PASSWORD"] == env["OS_PASSWORD"]
    assert [u["name"] for u in identity.list_users()] == ["admin"]


def test_ensure_admin_does_nothing_when_users_exist(
    identity: IdentityService, tmp_path: Path
) -> None:
    assert identity.ensure_admin(tmp_path / "credentials") is None
    assert not (tmp_path / "credentials").exists()


def test_ensure_admin_once_under_concurrency(
    cheap_hashing: None, db: Database, settings: Settings, tmp_path: Path
) -> None:
    services = [IdentityService(db, settings) for _ in range(4)]
    barrier = threading.Barrier(len(services))

    def start(service: IdentityService) -> Path | None:
        barrier.wait()
        return service.ensure_admin(tmp_path / "credentials")

    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        list(pool.map(start, services))
    assert [u["name"] for u in services[0].list_users()] == ["admin"]
    password = read_openrc(tmp_path / "credentials" / "admin-openrc.sh")["OS_PASSWORD"]
    services[0].authenticate(password_auth("admin", password, "admin"))
    assert sorted(p.name for p in (tmp_path / "credentials").iterdir()) == [
        "admin-openrc.sh",
        "clouds.yaml",
    ]


def test_revoke_racing_a_validation_is_not_cached(identity: IdentityService) -> None:
    """A validation that read the token just before a revocation must not cache it."""
    token, _ = identity.authenticate(password_auth("alice", "alice-pw"))
    tokens_service = identity.tokens
    original_load = tokens_service._load

    def load_then_revoke(conn: Any, id_hash: str) -> Any:
        record = original_load(conn, id_hash)
        identity.revoke(token)  # commits while the reader holds the old answer
        return record

    tokens_service._load = load_then_revoke  # type: ignore[method-assign]
    assert identity.validate_token(token).user_name == "alice"
    tokens_service._load = original_load  # type: ignore[method-assign]
    with pytest.raises(NotAuthenticated):
        identity.validate_token(token)


# --- the admin CLI --------------------------------------------------------------------------


def test_admin_cli(cheap_hashing: None, tmp_path: Path) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from v6fabric.cli.admin import admin_app

    app = typer.Typer()
    app.add_typer(admin_app, name="admin")
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path / "state")]

    def run(*args: str) -> Any:
        return runner.invoke(app, ["admin", *args, *state])

    assert run("project", "create", "demo", "--description", "Demo").exit_code == 0
    duplicate = run("project", "create", "demo")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    password_file = tmp_path / "pw"
    password_file.write_text("s3cret\n")
    created = run(
        "user", "create", "alice", "--project", "demo", "--role", "reader",
        "--password-file", str(password_file), "--json",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["roles"][0]["role"] == "reader"
    unknown = run(
        "user", "create", "bob", "--project", "nope", "--password-file", str(password_file)
    )
    assert unknown.exit_code == 1 and "Could not find project: nope" in unknown.output
    assert (
        run("role", "add", "--user", "alice", "--project", "demo", "--role", "member").exit_code
        == 0
    )
    users = json.loads(run("user", "list", "--json").output)
    assert [(u["name"], sorted(g["role"] for g in u["roles"])) for u in users] == [
        ("alice", ["member", "reader"])
    ]
    assert "demo" in run("project", "list").output
    settings = Settings(state_dir=tmp_path / "state")
    db = Database(settings.db_url)
    try:
        identity = IdentityService(db, settings)
        _, body = identity.authenticate(password_auth("alice", "s3cret"))  # newline stripped
        assert {r["name"] for r in body["token"]["roles"]} == {"member", "reader"}
    finally:
        db.dispose()
