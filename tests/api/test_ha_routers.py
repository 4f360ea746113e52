"""L3 HA through the API (issue 7): the ``ha`` attribute with Neutron's rules, the project's HA
network and the instances' ``ha-`` ports (made and removed with the routers, never shown to the
tenant), instances spread over the L3 hosts and moved off a silent one, ``ha_state`` from the
agents' status reports, and what each instance host's state says."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api, Template, assert_error
from tests.api.test_l3_scheduler import _reschedule, _silence, _state
from v6fabric.api.app import create_app
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.hoststate.model import router_namespace
from v6fabric.services.agents import agent_id
from v6fabric.settings import Settings

HA_OWNER = "network:router_ha_interface"
UNDERLAY = {"l3a": "198.18.0.1", "l3b": "198.18.0.2", "l3c": "198.18.0.3", "c1": "198.18.0.9"}


def _register(api: Api, host: str, roles: list[str]) -> None:
    body = {"roles": roles, "capabilities": {"underlay": {"ipv4": UNDERLAY[host]}}}
    r = api.put(f"/fabric/v1/hosts/{host}", body, "admin")
    assert r.status_code == 200, r.text


@pytest.fixture
def three_l3(api: Api) -> Api:
    for host in ("l3a", "l3b", "l3c"):
        _register(api, host, ["network"])
    _register(api, "c1", ["compute"])
    return api


def _alpha(api: Api) -> str:
    return api.project_ids["alpha"]


def _ha_router(api: Api, n: int = 1, **attrs: Any) -> dict[str, Any]:
    """An HA router of alice's project (made by the admin: ``ha`` is admin only) with an
    interface on a SLAAC subnet of alice's."""
    net = api.network(name=f"n{n}")
    subnet = api.subnet(
        net["id"], f"2001:db8:{n}::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    body = {"name": f"r{n}", "ha": True, "project_id": _alpha(api), **attrs}
    r = api.post("/v2.0/routers", {"router": body}, "admin")
    assert r.status_code == 201, r.text
    router = r.json()["router"]
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    assert r.status_code == 200, r.text
    return router


def _agents(api: Api, router_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/v2.0/routers/{router_id}/l3-agents", "admin")
    assert r.status_code == 200, r.text
    return r.json()["agents"]


def _hosting(api: Api, router_id: str) -> list[str]:
    return sorted(agent["host"] for agent in _agents(api, router_id))


def _ha_ports(api: Api, router_id: str | None = None) -> list[dict[str, Any]]:
    query = f"?device_owner={HA_OWNER}" + (f"&device_id={router_id}" if router_id else "")
    return api.get(f"/v2.0/ports{query}", "admin").json()["ports"]


def _ha_networks(api: Api) -> list[dict[str, Any]]:
    listed = api.get("/v2.0/networks", "admin").json()["networks"]
    return [n for n in listed if n["name"].startswith("HA network tenant ")]


def test_ha_is_admin_only_shown_to_admins_and_refused_with_distributed(three_l3: Api) -> None:
    api = three_l3
    assert_error(
        api.post("/v2.0/routers", {"router": {"ha": True}}),
        403,
        "PolicyNotAuthorized",
        "rule:create_router:ha is disallowed by policy",
    )
    router = _ha_router(api)
    assert "ha" not in api.get(f"/v2.0/routers/{router['id']}").json()["router"]
    assert api.get(f"/v2.0/routers/{router['id']}", "admin").json()["router"]["ha"] is True
    assert_error(
        api.put(f"/v2.0/routers/{router['id']}", {"router": {"ha": False}}),
        403,
        "PolicyNotAuthorized",
        "rule:update_router:ha is disallowed by policy",
    )
    assert_error(
        api.post("/v2.0/routers", {"router": {"ha": True, "distributed": True}}, "admin"),
        400,
        "BadRequest",
        "Bad router request: Distributed HA routers are not supported yet.",
    )
    plain = api.create("router", name="plain")
    assert api.get(f"/v2.0/routers/{plain['id']}", "admin").json()["router"]["ha"] is False
    filtered = api.get("/v2.0/routers?ha=true", "admin").json()["routers"]
    assert [r["id"] for r in filtered] == [router["id"]]


def test_ha_changes_only_while_the_router_is_down(three_l3: Api) -> None:
    api = three_l3
    router = api.create("router", name="r")
    path = f"/v2.0/routers/{router['id']}"
    assert_error(
        api.put(path, {"router": {"ha": True}}, "admin"),
        400,
        "BadRequest",
        "Bad router request: Cannot change HA attribute of active routers. Please set router "
        "admin_state_up to False prior to upgrade.",
    )
    assert api.get(path, "admin").json()["router"]["revision_number"] == 1
    assert _ha_networks(api) == [] and _ha_ports(api) == []
    # down in the same request: allowed (Neutron checks the state the router is going to)
    r = api.put(path, {"router": {"ha": True, "admin_state_up": False}}, "admin")
    assert r.status_code == 200, r.text
    assert r.json()["router"]["ha"] is True
    assert len(_hosting(api, router["id"])) == 2
    assert {p["binding:host_id"] for p in _ha_ports(api, router["id"])} == set(
        _hosting(api, router["id"])
    )
    assert len(_ha_networks(api)) == 1
    # back to a plain router: one host, no ha- ports, no HA network
    r = api.put(path, {"router": {"ha": False}}, "admin")
    assert r.status_code == 200, r.text
    assert len(_hosting(api, router["id"])) == 1
    assert _ha_ports(api) == [] and _ha_networks(api) == []
    assert [a["ha_state"] for a in _agents(api, router["id"])] == [None]


def test_the_default_comes_from_settings_l3_ha(tmp_path: Path, identity_template: Template) -> None:
    shutil.copy(identity_template.path, tmp_path / "v6fabric.db")
    app = create_app(Settings(state_dir=tmp_path, l3_ha=True))
    with TestClient(app) as client:
        api = Api(client, identity_template)
        made = api.create("router", name="r")  # a member need not say anything
        assert api.get(f"/v2.0/routers/{made['id']}", "admin").json()["router"]["ha"] is True
        body = {"router": {"name": "plain", "ha": False}}
        plain = api.post("/v2.0/routers", body, "admin").json()["router"]
        assert plain["ha"] is False
    app.state.db.dispose()


def test_ha_network_and_ports_live_and_die_with_the_projects_ha_routers(three_l3: Api) -> None:
    api = three_l3
    first = _ha_router(api, 1)
    (network,) = _ha_networks(api)
    assert network["name"] == f"HA network tenant {_alpha(api)}"
    assert network["project_id"] == "" and network["provider:network_type"] == "vxlan"
    ports = _ha_ports(api, first["id"])
    assert len(ports) == 2
    assert {p["binding:host_id"] for p in ports} == set(_hosting(api, first["id"]))
    for port in ports:
        assert port["network_id"] == network["id"]
        assert (port["project_id"], port["fixed_ips"], port["device_id"]) == ("", [], first["id"])
    second = _ha_router(api, 2)
    assert [n["id"] for n in _ha_networks(api)] == [network["id"]]  # one per project
    assert len(_ha_ports(api)) == 4

    # an admin cannot delete them behind the routers' backs either
    assert_error(api.delete(f"/v2.0/ports/{ports[0]['id']}", "admin"), 409, "ServicePortInUse")
    assert_error(api.delete(f"/v2.0/networks/{network['id']}", "admin"), 409, "NetworkInUse")

    assert api.delete(f"/v2.0/routers/{first['id']}", "admin").status_code == 409  # interface
    for router in (first, second):
        iface = {"subnet_id": _interface_subnet(api, router["id"])}
        path = f"/v2.0/routers/{router['id']}/remove_router_interface"
        assert api.put(path, iface).status_code == 200
    assert api.delete(f"/v2.0/routers/{first['id']}").status_code == 204
    assert len(_ha_ports(api)) == 2 and len(_ha_networks(api)) == 1
    assert api.delete(f"/v2.0/routers/{second['id']}").status_code == 204
    assert _ha_ports(api) == [] and _ha_networks(api) == []
    assert _router_ports(api) == []


def _interface_subnet(api: Api, router_id: str) -> str:
    query = f"?device_id={router_id}&device_owner=network:ha_router_replicated_interface"
    (port,) = api.get(f"/v2.0/ports{query}", "admin").json()["ports"]
    return str(port["fixed_ips"][0]["subnet_id"])


def _router_ports(api: Api) -> list[dict[str, Any]]:
    listed = api.get("/v2.0/ports", "admin").json()["ports"]
    return [p for p in listed if p["device_owner"].startswith("network:router")]


def test_the_tenants_never_see_ha_networks_or_ports(three_l3: Api) -> None:
    api = three_l3
    router = _ha_router(api)
    (network,) = _ha_networks(api)
    port = _ha_ports(api, router["id"])[0]
    for user in ("alice", "bob"):
        assert network["id"] not in {
            n["id"] for n in api.get("/v2.0/networks", user).json()["networks"]
        }
        assert port["id"] not in {p["id"] for p in api.get("/v2.0/ports", user).json()["ports"]}
        assert_error(api.get(f"/v2.0/networks/{network['id']}", user), 404, "NetworkNotFound")
        assert_error(api.get(f"/v2.0/ports/{port['id']}", user), 404, "PortNotFound")
        assert_error(api.delete(f"/v2.0/ports/{port['id']}", user), 404, "PortNotFound")
        assert_error(api.delete(f"/v2.0/networks/{network['id']}", user), 404, "NetworkNotFound")


def test_a_refused_request_leaves_no_ha_network_behind(three_l3: Api) -> None:
    api = three_l3
    internal = api.network(name="not-external")
    body = {
        "router": {
            "ha": True,
            "project_id": _alpha(api),
            "external_gateway_info": {"network_id": internal["id"]},
        }
    }
    assert_error(api.post("/v2.0/routers", body, "admin"), 400, "BadRequest")
    assert _ha_networks(api) == [] and _ha_ports(api) == []
    assert api.get("/v2.0/routers", "admin").json()["routers"] == []


def test_instances_spread_over_distinct_hosts_least_loaded_first(three_l3: Api) -> None:
    api = three_l3
    made = [_ha_router(api, n) for n in range(1, 4)]
    where = {r["id"]: _hosting(api, r["id"]) for r in made}
    assert all(len(hosts) == 2 and hosts[0] != hosts[1] for hosts in where.values()), where
    assert Counter(h for hosts in where.values() for h in hosts) == {"l3a": 2, "l3b": 2, "l3c": 2}
    assert where[made[0]["id"]] == ["l3a", "l3b"]  # ties broken by name: deterministic
    agents = api.get("/v2.0/agents?agent_type=L3 agent", "admin").json()["agents"]
    assert {a["host"]: a["configurations"]["routers"] for a in agents} == {
        "l3a": 2,
        "l3b": 2,
        "l3c": 2,
    }
    l3a = agent_id("l3a", "L3 agent")
    listed = api.get(f"/v2.0/agents/{l3a}/l3-routers", "admin").json()["routers"]
    assert sorted(r["id"] for r in listed) == sorted(r for r, h in where.items() if "l3a" in h)


def test_one_l3_host_runs_one_instance_and_the_next_host_gets_the_second(api: Api) -> None:
    _register(api, "l3a", ["network"])
    router = _ha_router(api)
    assert _hosting(api, router["id"]) == ["l3a"]
    assert len(_ha_ports(api, router["id"])) == 1
    _register(api, "l3b", ["network"])
    assert _hosting(api, router["id"]) == ["l3a", "l3b"]
    assert {p["binding:host_id"] for p in _ha_ports(api, router["id"])} == {"l3a", "l3b"}
    _register(api, "l3c", ["network"])  # two is the most (max_l3_agents_per_router)
    assert _hosting(api, router["id"]) == ["l3a", "l3b"]


def test_an_ha_router_made_with_no_l3_host_gets_its_instances_when_hosts_come(api: Api) -> None:
    router = _ha_router(api)
    assert _hosting(api, router["id"]) == [] and _ha_ports(api) == []
    assert len(_ha_networks(api)) == 1  # made with the router
    _register(api, "l3a", ["network"])
    _register(api, "l3b", ["network"])
    assert _hosting(api, router["id"]) == ["l3a", "l3b"]


def test_an_instance_on_a_silent_host_stays_while_another_is_live_then_moves(
    three_l3: Api,
) -> None:
    """keepalived fails over; the server moves an instance only when every instance's host is
    silent (a silent agent may have left a running keepalived behind: two masters)."""
    api = three_l3
    router = _ha_router(api)
    assert _hosting(api, router["id"]) == ["l3a", "l3b"]
    before = {p["binding:host_id"]: p for p in _ha_ports(api, router["id"])}
    _silence(api, "l3b")
    revision = api.client.app.state.db.revision()  # type: ignore[attr-defined]
    report = _reschedule(api)
    assert report.ha_moved == [] and report.ha_added == {}
    assert api.client.app.state.db.revision() == revision  # type: ignore[attr-defined]
    assert _hosting(api, router["id"]) == ["l3a", "l3b"]
    states = {a["host"]: a["ha_state"] for a in _agents(api, router["id"])}
    assert states["l3b"] == "unknown"  # its agent is not alive: its last word may be stale
    # every instance's host silent: one moves to the live host, its ha port with it
    _silence(api, "l3a")
    report = _reschedule(api)
    assert report.ha_moved == [(router["id"], "l3a", "l3c")]
    assert _hosting(api, router["id"]) == ["l3b", "l3c"]
    after = {p["binding:host_id"]: p for p in _ha_ports(api, router["id"])}
    assert after["l3c"]["id"] == before["l3a"]["id"]  # the same port, the same MAC
    assert after["l3c"]["mac_address"] == before["l3a"]["mac_address"]
    namespace = router_namespace(router["id"])
    assert namespace not in {ns.name for ns in _state(api, "l3a").namespaces}
    assert namespace in {ns.name for ns in _state(api, "l3c").namespaces}
    # nothing more to do: a second pass writes nothing
    revision = api.client.app.state.db.revision()  # type: ignore[attr-defined]
    again = _reschedule(api)
    assert again.ha_moved == [] and again.ha_added == {}
    assert api.client.app.state.db.revision() == revision  # type: ignore[attr-defined]


def test_ha_state_comes_from_the_status_reports(three_l3: Api) -> None:
    api = three_l3
    router = _ha_router(api)
    plain = api.create("router", name="plain")
    assert [a["ha_state"] for a in _agents(api, router["id"])] == [None, None]
    assert [a["ha_state"] for a in _agents(api, plain["id"])] == [None]
    revision = api.client.app.state.db.revision()  # type: ignore[attr-defined]
    for host, state in (("l3a", "active"), ("l3b", "standby")):
        body = {"routers": {router["id"]: state}}
        r = api.put(f"/fabric/v1/hosts/{host}/status", body, "admin")
        assert r.status_code == 204, r.text
    states = {a["host"]: a["ha_state"] for a in _agents(api, router["id"])}
    assert states == {"l3a": "active", "l3b": "standby"}
    assert api.client.app.state.db.revision() == revision  # type: ignore[attr-defined]
    # a host reporting a router it does not run changes nothing
    r = api.put("/fabric/v1/hosts/l3c/status", {"routers": {router["id"]: "active"}}, "admin")
    assert r.status_code == 204
    assert {a["host"]: a["ha_state"] for a in _agents(api, router["id"])} == states
    assert_error(
        api.put("/fabric/v1/hosts/l3a/status", {"routers": {router["id"]: "master"}}, "admin"),
        400,
        "HTTPBadRequest",
    )


def test_each_instance_host_gets_the_router_with_vrrp(three_l3: Api) -> None:
    api = three_l3
    router = _ha_router(api)
    ports = {p["binding:host_id"]: p for p in _ha_ports(api, router["id"])}
    gateway = api.get(f"/v2.0/subnets/{_interface_subnet(api, router['id'])}").json()["subnet"]
    namespace = router_namespace(router["id"])
    states = {host: _state(api, host) for host in ("l3a", "l3b", "l3c", "c1")}
    for host, other in (("l3a", "l3b"), ("l3b", "l3a")):
        state = states[host]
        (vrrp,) = state.vrrp
        assert (vrrp.namespace, vrrp.router_id, vrrp.vrid) == (namespace, router["id"], 1)
        assert vrrp.interface == "ha-" + ports[host]["id"][:11]
        assert vrrp.peers == (str(eui64_link_local(ports[other]["mac_address"])),)
        assert vrrp.advert_interval == 0.2
        (leg,) = vrrp.legs
        assert leg.startswith("qr-")
        assert [(a.ifname, a.cidr) for a in vrrp.addresses] == [
            (leg, f"{gateway['gateway_ip']}/64")
        ]
        qr = next(p for p in state.ports if p.ifname == leg)
        assert qr.vrrp_managed and qr.addresses == ()
        ha = next(p for p in state.ports if p.ifname == vrrp.interface)
        assert not ha.vrrp_managed and ha.namespace == namespace
        assert next(r for r in state.radvd if r.namespace == namespace).vrrp
        (net,) = [n for n in state.networks if n.network_id == qr.network_id]
        assert net.overlay is not None and net.overlay.learning
        assert qr.mac not in {entry.mac for entry in state.fdb}
    assert states["l3c"].vrrp == () and states["c1"].vrrp == ()
    assert not any(ns.name == namespace for ns in states["l3c"].namespaces)


def test_a_workload_host_floods_to_both_instances_and_learns_the_legs_mac(three_l3: Api) -> None:
    api = three_l3
    router = _ha_router(api)
    subnet_id = _interface_subnet(api, router["id"])
    network_id = api.get(f"/v2.0/subnets/{subnet_id}").json()["subnet"]["network_id"]
    r = api.put(
        "/v2.0/ports/" + api.port(network_id)["id"], {"port": {"binding:host_id": "c1"}}, "admin"
    )
    assert r.status_code == 200, r.text
    state = _state(api, "c1")
    (net,) = [n for n in state.networks if n.network_id == network_id]
    assert net.overlay is not None and net.overlay.learning
    assert net.overlay.remotes == (UNDERLAY["l3a"], UNDERLAY["l3b"])
    query = f"?device_id={router['id']}&device_owner=network:ha_router_replicated_interface"
    (leg,) = api.get(f"/v2.0/ports{query}", "admin").json()["ports"]
    assert leg["mac_address"] not in {entry.mac for entry in state.fdb}
    # a non-HA network stays pinned and does not learn
    plain = api.network(name="plain")
    r = api.put(
        "/v2.0/ports/" + api.port(plain["id"])["id"], {"port": {"binding:host_id": "c1"}}, "admin"
    )
    assert r.status_code == 200, r.text
    (other,) = [n for n in _state(api, "c1").networks if n.network_id == plain["id"]]
    assert other.overlay is not None and not other.overlay.learning
