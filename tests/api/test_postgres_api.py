"""The same services on PostgreSQL (several API servers share one): IPAM under concurrency.

Two app instances on one database stand for two API servers; clients hammer both at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import PASSWORD, USERS, Api, Template, _auth_body, error_of
from v6fabric.api.app import create_app
from v6fabric.identity import passwords
from v6fabric.settings import Settings


@pytest.fixture
def two_servers(
    pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Api, Api]]:
    monkeypatch.setattr(passwords, "LOG2_N", 4)
    settings = Settings(state_dir=tmp_path, database_url=pg_database_url)
    apps = [create_app(settings), create_app(settings)]
    identity = apps[0].state.identity
    project_ids = {p: identity.create_project(p)["id"] for p in {p for p, _ in USERS.values()}}
    tokens = {}
    for user, (project, role) in USERS.items():
        identity.create_user(user, PASSWORD, project=project, role=role)
        tokens[user], _ = identity.authenticate(_auth_body(user, project))
    template = Template(tmp_path / "unused", tokens, project_ids)
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        yield Api(first, template), Api(second, template)
    for app in apps:
        app.state.db.dispose()


def test_parallel_port_creates_on_two_servers_never_share_an_address(
    two_servers: tuple[Api, Api],
) -> None:
    one, two = two_servers
    net = one.network()
    one.subnet(net["id"], "10.9.0.0/27")  # 29 addresses, one for the DHCP port
    stateful = one.subnet(net["id"], "2001:db8:3::/120", ipv6_address_mode="dhcpv6-stateful")

    def create(i: int):  # type: ignore[no-untyped-def]
        return (one if i % 2 else two).post("/v2.0/ports", {"port": {"network_id": net["id"]}})

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(create, range(40)))
    created = [r.json()["port"] for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    assert len(created) == 28
    assert all(
        r.status_code == 409 and error_of(r)["type"] == "IpAddressGenerationFailure"
        for r in refused
    )
    v4 = [ip["ip_address"] for p in created for ip in p["fixed_ips"] if "." in ip["ip_address"]]
    v6 = [
        ip["ip_address"]
        for p in created
        for ip in p["fixed_ips"]
        if ip["subnet_id"] == stateful["id"]
    ]
    assert len(set(v4)) == len(v4) == 28 and len(set(v6)) == len(v6) == 28
    # the refused requests left nothing behind
    assert len(two.user_ports(f"?network_id={net['id']}")) == 28


def test_tenancy_on_postgres(two_servers: tuple[Api, Api]) -> None:
    one, two = two_servers
    net = one.network("alice")
    one.subnet(net["id"], "2001:db8:1::/64", "alice", ipv6_ra_mode="slaac")
    other = two.network("bob")
    two.subnet(other["id"], "2001:db8:1::/64", "bob", ipv6_ra_mode="slaac")
    assert two.get(f"/v2.0/networks/{net['id']}", "bob").status_code == 404
    assert [n["id"] for n in one.get("/v2.0/networks", "alice").json()["networks"]] == [net["id"]]


def test_first_use_on_two_servers_makes_one_default_group(two_servers: tuple[Api, Api]) -> None:
    one, two = two_servers
    net = one.network("admin", shared=True)

    def first_use(i: int):  # type: ignore[no-untyped-def]
        server = one if i % 2 else two
        if i % 3:
            return server.get("/v2.0/security-groups", "bob")
        return server.post("/v2.0/ports", {"port": {"network_id": net["id"]}}, "bob")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(first_use, range(16)))
    assert all(r.status_code in (200, 201) for r in results)
    groups = one.get("/v2.0/security-groups", "bob").json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    ports = [r.json()["port"] for r in results if r.status_code == 201]
    assert {p["security_groups"][0] for p in ports} == {groups[0]["id"]}
