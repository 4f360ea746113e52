"""The DHCP scheduler through the API: networks' DHCP spread over the live network hosts, moved
off one that stopped reporting, shown as Neutron's DHCP agents (``/dhcp-agents``,
``/dhcp-networks``)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.api.conftest import Api, assert_error
from tests.api.test_l3_scheduler import _namespaces, _register, _silence, _state
from v6fabric.hoststate.model import HostState, dhcp_namespace
from v6fabric.services.agents import agent_id

STATEFUL = {"ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"}


def _reschedule(api: Api) -> Any:
    return api.client.app.state.services.dhcp_scheduler.reschedule()  # type: ignore[attr-defined]


def _revision(api: Api) -> int:
    return api.client.app.state.db.revision()  # type: ignore[attr-defined,no-any-return]


def _hosting(api: Api, network_id: str) -> list[str]:
    r = api.get(f"/v2.0/networks/{network_id}/dhcp-agents", "admin")
    assert r.status_code == 200, r.text
    return [agent["host"] for agent in r.json()["agents"]]


def _isolated(api: Api, n: int) -> dict[str, Any]:
    """A routerless network with a DHCPv6-stateful subnet: RAs and DHCP from its ``v6d-``."""
    net = api.network(name=f"n{n}")
    api.subnet(net["id"], f"2001:db8:{n}::/64", **STATEFUL)
    return net


def _dhcp_here(state: HostState, ra: bool = True) -> set[str]:
    """The ``v6d-`` namespaces the host runs, each with its dnsmasq, listener and (``ra``:
    isolated IPv6 subnets) radvd."""
    found = {ns for ns in _namespaces(state) if ns.startswith("v6d-")}
    assert {d.namespace for d in state.dnsmasq} == found
    advertising = {r.namespace for r in state.radvd if r.namespace.startswith("v6d-")}
    assert advertising == (found if ra else set())
    listeners = {m.namespace for m in state.metadata.listeners}
    assert {m for m in listeners if m.startswith("v6d-")} == found
    return found


def test_networks_spread_over_the_network_hosts_and_run_only_on_theirs(two_l3: Api) -> None:
    api = two_l3
    made = [_isolated(api, n) for n in range(4)]
    where = {net["id"]: _hosting(api, net["id"]) for net in made}
    assert all(len(found) == 1 for found in where.values()), where
    assert Counter(found[0] for found in where.values()) == {"l3a": 2, "l3b": 2}
    assert where[made[0]["id"]] == ["l3a"]  # ties broken by name: deterministic
    for host in ("l3a", "l3b"):
        expected = {dhcp_namespace(n) for n, found in where.items() if found == [host]}
        assert _dhcp_here(_state(api, host)) == expected
    assert _dhcp_here(_state(api, "c1")) == set()


def test_dhcp_agents_views_are_neutrons_and_admin_only(two_l3: Api) -> None:
    api = two_l3
    nets = [_isolated(api, n) for n in range(3)]
    listed = api.get("/v2.0/agents?agent_type=DHCP agent", "admin").json()["agents"]
    assert {a["host"]: a["configurations"] for a in listed} == {
        "l3a": {"networks": 2},
        "l3b": {"networks": 1},
    }
    dhcp_a = agent_id("l3a", "DHCP agent")
    hosted = api.get(f"/v2.0/agents/{dhcp_a}/dhcp-networks", "admin").json()["networks"]
    assert [n["name"] for n in hosted] == sorted(
        [n["name"] for n in nets if _hosting(api, n["id"]) == ["l3a"]],
        key=lambda name: next(n["id"] for n in nets if n["name"] == name),
    )
    (agent,) = api.get(f"/v2.0/networks/{nets[0]['id']}/dhcp-agents", "admin").json()["agents"]
    assert (agent["id"], agent["agent_type"], agent["binary"]) == (
        dhcp_a,
        "DHCP agent",
        "neutron-dhcp-agent",
    )
    l3_a = agent_id("l3a", "L3 agent")
    assert api.get(f"/v2.0/agents/{l3_a}/dhcp-networks", "admin").json() == {"networks": []}
    aliases = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert "dhcp_agent_scheduler" in aliases
    assert_error(
        api.get(f"/v2.0/networks/{nets[0]['id']}/dhcp-agents"),
        403,
        "PolicyNotAuthorized",
        "rule:get_dhcp-agents is disallowed by policy",
    )
    assert_error(api.get(f"/v2.0/agents/{dhcp_a}/dhcp-networks"), 404, "AgentNotFound")
    missing = "00000000-0000-0000-0000-0000000000ff"
    assert_error(
        api.get(f"/v2.0/networks/{missing}/dhcp-agents", "admin"),
        404,
        "NetworkNotFound",
        f"Network {missing} could not be found.",
    )


def test_a_network_is_placed_with_its_dhcp_port_and_unplaced_without_it(two_l3: Api) -> None:
    api = two_l3
    net = api.network(name="plain")
    assert _hosting(api, net["id"]) == []  # no subnet, no DHCP port: no DHCP anywhere
    subnet = api.subnet(net["id"], "10.0.5.0/24", enable_dhcp=False)
    assert _hosting(api, net["id"]) == []
    r = api.put(f"/v2.0/subnets/{subnet['id']}", {"subnet": {"enable_dhcp": True}})
    assert r.status_code == 200, r.text
    assert _hosting(api, net["id"]) == ["l3a"]
    assert _dhcp_here(_state(api, "l3a"), ra=False) == {dhcp_namespace(net["id"])}
    r = api.put(f"/v2.0/subnets/{subnet['id']}", {"subnet": {"enable_dhcp": False}})
    assert r.status_code == 200, r.text
    assert _hosting(api, net["id"]) == []
    assert _dhcp_here(_state(api, "l3a")) == set()
    other = _isolated(api, 7)  # the least-loaded again: l3a runs nothing now
    assert _hosting(api, other["id"]) == ["l3a"]
    assert api.delete(f"/v2.0/networks/{other['id']}").status_code == 204
    listed = api.get("/v2.0/agents?agent_type=DHCP agent&host=l3a", "admin").json()["agents"]
    assert [a["configurations"] for a in listed] == [{"networks": 0}]  # gone with its network


def test_a_silent_host_loses_its_networks_dhcp_to_the_live_one(two_l3: Api) -> None:
    api = two_l3
    made = [_isolated(api, n) for n in range(4)]
    on_b = [net["id"] for net in made if _hosting(api, net["id"]) == ["l3b"]]
    assert len(on_b) == 2
    _silence(api, "l3b")
    revision = _revision(api)
    report = _reschedule(api)
    assert report.moved == {network_id: ("l3b", "l3a") for network_id in on_b}
    assert _revision(api) == revision + 2  # one write per move: both hosts' agents follow
    assert all(_hosting(api, net["id"]) == ["l3a"] for net in made)
    assert _dhcp_here(_state(api, "l3a")) == {dhcp_namespace(net["id"]) for net in made}
    assert _dhcp_here(_state(api, "l3b")) == set()
    revision = _revision(api)  # a second pass has nothing to do and writes nothing
    assert _reschedule(api).moved == {}
    assert _revision(api) == revision


def test_with_no_live_network_host_dhcp_stays_where_it_is_and_says_so(
    two_l3: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api = two_l3
    made = [_isolated(api, n) for n in range(2)]
    before = {net["id"]: _hosting(api, net["id"]) for net in made}
    _silence(api, "l3a")
    _silence(api, "l3b")
    report = _reschedule(api)
    assert report.moved == {}
    assert report.stranded == {n: found[0] for n, found in before.items()}
    assert "no live DHCP host" in caplog.text
    assert {net["id"]: _hosting(api, net["id"]) for net in made} == before


def test_a_network_made_with_no_network_host_is_placed_when_one_registers(api: Api) -> None:
    _register(api, "c1", ["compute"])
    net = _isolated(api, 1)
    assert _hosting(api, net["id"]) == []
    assert _dhcp_here(_state(api, "c1")) == set()
    _register(api, "l3a", ["network"])
    assert _hosting(api, net["id"]) == ["l3a"]
    assert _dhcp_here(_state(api, "l3a")) == {dhcp_namespace(net["id"])}


def test_a_host_that_lost_the_network_role_loses_its_networks_dhcp(two_l3: Api) -> None:
    api = two_l3
    net = _isolated(api, 1)
    assert _hosting(api, net["id"]) == ["l3a"]
    _register(api, "l3a", ["compute"])
    _reschedule(api)
    assert _hosting(api, net["id"]) == ["l3b"]


def test_the_servers_periodic_task_moves_dhcp_off_a_host_that_stops_reporting(
    quick_api: Api,
) -> None:
    api = quick_api
    _register(api, "l3a", ["network"])
    _register(api, "l3b", ["network"])
    made = [_isolated(api, n) for n in range(2)]
    assert sorted(h for net in made for h in _hosting(api, net["id"])) == ["l3a", "l3b"]

    def heartbeat_a_only() -> bool:
        r = api.put("/fabric/v1/hosts/l3a/status", {"applied": None}, "admin")
        assert r.status_code in (200, 204), r.text
        return all(_hosting(api, net["id"]) == ["l3a"] for net in made)

    deadline = time.monotonic() + 60  # the down time is 2 s: generous for two busy cores
    while not heartbeat_a_only():
        assert time.monotonic() < deadline, "the networks' DHCP stayed on the silent host"
        time.sleep(0.2)


def _register_physnets(api: Api, host: str, physnets: dict[str, str]) -> None:
    body = {"roles": ["network"], "capabilities": {"physical_networks": physnets}}
    r = api.put(f"/fabric/v1/hosts/{host}", body, "admin")
    assert r.status_code == 200, r.text


def _flat(api: Api) -> dict[str, Any]:
    flat = {"provider:network_type": "flat", "provider:physical_network": "physnet1"}
    net = api.network("admin", name="flat", **flat)
    api.subnet(net["id"], "2001:db8:2::/64", "admin", **STATEFUL)
    return net


def test_a_flat_networks_dhcp_goes_to_a_host_on_its_physical_network(api: Api) -> None:
    _register_physnets(api, "l3a", {})  # reported: no interface on any physical network
    _register_physnets(api, "l3b", {"physnet1": "eth1"})
    net = _flat(api)
    assert _hosting(api, net["id"]) == ["l3b"]  # l3a runs less, but cannot carry it
    assert api.delete(f"/v2.0/networks/{net['id']}", "admin").status_code == 204
    _register_physnets(api, "l3b", {})
    net = _flat(api)
    assert _hosting(api, net["id"]) == []  # no network host can carry it: it waits
    revision = _revision(api)
    assert _reschedule(api).placed == {}
    assert _revision(api) == revision  # and waiting costs no write per pass
    _register_physnets(api, "l3b", {"physnet1": "eth1"})  # placed when one can
    assert _hosting(api, net["id"]) == ["l3b"]
