"""The L3 scheduler through the API: routers spread over the live network hosts, moved off one
that stopped reporting, shown as Neutron's agents (``/v2.0/agents``, ``/l3-agents``)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tests.api.conftest import Api, assert_error
from v6fabric.hoststate.codec import decode
from v6fabric.hoststate.model import HostState, router_namespace
from v6fabric.services import common
from v6fabric.services.agents import agent_id
from v6fabric.store.tables import hosts


def _register(api: Api, host: str, roles: list[str]) -> None:
    r = api.put(f"/fabric/v1/hosts/{host}", {"roles": roles}, "admin")
    assert r.status_code == 200, r.text


def _state(api: Api, host: str) -> HostState:
    return decode(api.get(f"/fabric/v1/hosts/{host}/state", "admin").content)


def _silence(api: Api, host: str, seconds: float = 3600) -> None:
    """As if ``host``'s agent had last reported ``seconds`` ago."""
    db = api.client.app.state.db  # type: ignore[attr-defined]
    old = common.utcnow() - timedelta(seconds=seconds)
    db.write(
        lambda txn: txn.conn.execute(update(hosts).where(hosts.c.name == host).values(seen_at=old)),
        bump_revision=False,
    )


def _reschedule(api: Api) -> Any:
    return api.client.app.state.services.l3_scheduler.reschedule()  # type: ignore[attr-defined]


def _hosting(api: Api, router_id: str) -> list[str]:
    r = api.get(f"/v2.0/routers/{router_id}/l3-agents", "admin")
    assert r.status_code == 200, r.text
    return [agent["host"] for agent in r.json()["agents"]]


def _routed_router(api: Api, n: int) -> dict[str, Any]:
    net = api.network(name=f"n{n}")
    subnet = api.subnet(
        net["id"], f"2001:db8:{n}::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    return api.routed(subnet["id"], name=f"r{n}")


def _namespaces(state: HostState) -> set[str]:
    return {ns.name for ns in state.namespaces}


def test_six_routers_spread_three_and_three_and_run_only_on_their_host(two_l3: Api) -> None:
    api = two_l3
    made = [_routed_router(api, n) for n in range(6)]
    where = {router["id"]: _hosting(api, router["id"]) for router in made}
    assert all(len(found) == 1 for found in where.values()), where
    assert Counter(found[0] for found in where.values()) == {"l3a": 3, "l3b": 3}
    # the first router goes to the first host by name (ties broken by name): deterministic
    assert where[made[0]["id"]] == ["l3a"]
    states = {host: _state(api, host) for host in ("l3a", "l3b", "c1")}
    for router in made:
        host = where[router["id"]][0]
        other = "l3b" if host == "l3a" else "l3a"
        namespace = router_namespace(router["id"])
        assert namespace in _namespaces(states[host])
        assert namespace not in _namespaces(states[other])
        assert namespace not in _namespaces(states["c1"])
        assert any(r.namespace == namespace for r in states[host].radvd)
        assert any(m.namespace == namespace for m in states[host].metadata.listeners)
        assert not any(m.namespace == namespace for m in states[other].metadata.listeners)
    assert _namespaces(states["c1"]) == set()


def test_agents_are_listed_per_network_host_with_stable_ids(two_l3: Api) -> None:
    api = two_l3
    _routed_router(api, 1)
    listed = api.get("/v2.0/agents", "admin").json()["agents"]
    assert {(a["host"], a["agent_type"]) for a in listed} == {
        ("l3a", "L3 agent"),
        ("l3a", "DHCP agent"),
        ("l3b", "L3 agent"),
        ("l3b", "DHCP agent"),
    }
    l3a = next(a for a in listed if a["host"] == "l3a" and a["agent_type"] == "L3 agent")
    assert l3a["id"] == agent_id("l3a", "L3 agent")
    assert (l3a["alive"], l3a["admin_state_up"], l3a["binary"]) == (True, True, "neutron-l3-agent")
    assert l3a["configurations"]["routers"] == 1
    assert len(l3a["heartbeat_timestamp"]) == len("2026-11-28 13:50:54")
    assert api.get(f"/v2.0/agents/{l3a['id']}", "admin").json()["agent"] == l3a
    filtered = api.get("/v2.0/agents?agent_type=L3 agent&host=l3b", "admin").json()["agents"]
    assert [(a["host"], a["agent_type"]) for a in filtered] == [("l3b", "L3 agent")]
    routers = api.get(f"/v2.0/agents/{l3a['id']}/l3-routers", "admin").json()["routers"]
    assert [r["name"] for r in routers] == ["r1"]
    aliases = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert {"agent", "l3_agent_scheduler"} <= aliases


def test_agents_are_admin_only_and_unknown_ids_get_neutron_errors(two_l3: Api) -> None:
    api = two_l3
    router = _routed_router(api, 1)
    assert api.get("/v2.0/agents").json() == {"agents": []}  # Neutron: none a member may see
    assert_error(
        api.get(f"/v2.0/routers/{router['id']}/l3-agents"),
        403,
        "PolicyNotAuthorized",
        "rule:get_l3-agents is disallowed by policy",
    )
    missing = "00000000-0000-0000-0000-0000000000ff"
    assert_error(
        api.get(f"/v2.0/routers/{missing}/l3-agents", "admin"),
        404,
        "RouterNotFound",
        f"Router {missing} could not be found",
    )
    assert_error(
        api.get(f"/v2.0/agents/{missing}", "admin"),
        404,
        "AgentNotFound",
        f"Agent {missing} could not be found.",
    )
    own = agent_id("l3a", "L3 agent")
    assert_error(api.get(f"/v2.0/agents/{own}"), 404, "AgentNotFound")


def test_a_silent_host_loses_its_routers_to_the_live_one(two_l3: Api) -> None:
    api = two_l3
    made = [_routed_router(api, n) for n in range(4)]
    on_b = [r["id"] for r in made if _hosting(api, r["id"]) == ["l3b"]]
    assert len(on_b) == 2
    _silence(api, "l3b")
    revision = api.client.app.state.db.revision()  # type: ignore[attr-defined]
    report = _reschedule(api)
    assert report.moved == {router_id: ("l3b", "l3a") for router_id in on_b}
    assert api.client.app.state.db.revision() == revision + 2  # type: ignore[attr-defined]
    assert all(_hosting(api, r["id"]) == ["l3a"] for r in made)
    agents = api.get("/v2.0/agents?host=l3b&agent_type=L3 agent", "admin").json()["agents"]
    assert [a["alive"] for a in agents] == [False]
    state = _state(api, "l3a")
    assert {router_namespace(r["id"]) for r in made} <= _namespaces(state)
    assert not any(ns.startswith("v6r-") for ns in _namespaces(_state(api, "l3b")))
    # a second pass has nothing to do and writes nothing
    revision = api.client.app.state.db.revision()  # type: ignore[attr-defined]
    assert _reschedule(api).moved == {}
    assert api.client.app.state.db.revision() == revision  # type: ignore[attr-defined]


def test_with_no_live_l3_host_routers_stay_where_they_are_and_say_so(
    two_l3: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api = two_l3
    made = [_routed_router(api, n) for n in range(2)]
    before = {r["id"]: _hosting(api, r["id"]) for r in made}
    _silence(api, "l3a")
    _silence(api, "l3b")
    report = _reschedule(api)
    assert report.moved == {}
    assert report.stranded == {r: hosts_[0] for r, hosts_ in before.items()}
    assert "no live L3 host" in caplog.text
    assert {r["id"]: _hosting(api, r["id"]) for r in made} == before
    agents = api.get("/v2.0/agents?agent_type=L3 agent", "admin").json()["agents"]
    assert [a["alive"] for a in agents] == [False, False]


def test_a_router_made_with_no_l3_host_is_placed_when_one_registers(api: Api) -> None:
    _register(api, "c1", ["compute"])
    router = _routed_router(api, 1)
    assert _hosting(api, router["id"]) == []
    assert not any(ns.startswith("v6r-") for ns in _namespaces(_state(api, "c1")))
    _register(api, "l3a", ["network"])
    assert _hosting(api, router["id"]) == ["l3a"]
    assert router_namespace(router["id"]) in _namespaces(_state(api, "l3a"))


def test_a_host_that_lost_the_network_role_loses_its_routers(two_l3: Api) -> None:
    api = two_l3
    router = _routed_router(api, 1)
    assert _hosting(api, router["id"]) == ["l3a"]
    _register(api, "l3a", ["compute"])
    _reschedule(api)
    assert _hosting(api, router["id"]) == ["l3b"]


def test_the_servers_periodic_task_moves_routers_off_a_host_that_stops_reporting(
    quick_api: Api,
) -> None:
    api = quick_api
    _register(api, "l3a", ["network"])
    _register(api, "l3b", ["network"])
    made = [_routed_router(api, n) for n in range(2)]
    assert sorted(h for r in made for h in _hosting(api, r["id"])) == ["l3a", "l3b"]

    def heartbeat_a_only() -> bool:
        r = api.put("/fabric/v1/hosts/l3a/status", {"applied": None}, "admin")
        assert r.status_code in (200, 204), r.text
        return all(_hosting(api, r["id"]) == ["l3a"] for r in made)

    deadline = time.monotonic() + 60  # the down time is 2 s: generous for two busy cores
    while not heartbeat_a_only():
        assert time.monotonic() < deadline, "the routers stayed on the silent host"
        time.sleep(0.2)
