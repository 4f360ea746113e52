"""Router interfaces carry the device_owner of their router's mode, as Neutron's: a distributed
router's ``network:router_interface_distributed``, an HA router's
``network:ha_router_replicated_interface``, others ``network:router_interface``; the owner
follows a mode change, and every rule about interfaces holds for all three."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, assert_error

PLAIN = "network:router_interface"
DVR = "network:router_interface_distributed"
HA = "network:ha_router_replicated_interface"
OWNERS = (PLAIN, DVR, HA)
MODES = {PLAIN: {}, DVR: {"distributed": True}, HA: {"ha": True}}


def _router(api: Api, **attrs: Any) -> dict[str, Any]:
    """A router of alice's project, made by the admin (``ha`` and ``distributed`` are admin
    only)."""
    body = {"name": "r", "project_id": api.project_ids["alpha"], **attrs}
    r = api.post("/v2.0/routers", {"router": body}, "admin")
    assert r.status_code == 201, r.text
    return r.json()["router"]


def _add(api: Api, router_id: str, **body: str) -> dict[str, Any]:
    r = api.put(f"/v2.0/routers/{router_id}/add_router_interface", body)
    assert r.status_code == 200, r.text
    return r.json()


def _owners(api: Api, router_id: str) -> dict[str, str]:
    """Port id -> device_owner of the router's interfaces, as alice lists them."""
    listed = api.get(f"/v2.0/ports?device_id={router_id}").json()["ports"]
    return {p["id"]: p["device_owner"] for p in listed if p["device_owner"] in OWNERS}


def _listed(api: Api, query: str) -> set[str]:
    r = api.get(f"/v2.0/ports?{query}")
    assert r.status_code == 200, r.text
    return {p["id"] for p in r.json()["ports"]}


def _world(api: Api, mode: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A router in ``mode`` with an interface added by subnet (two SLAAC prefixes on one port)
    and one added by port (IPv4)."""
    net6, net4 = api.network(name="n6"), api.network(name="n4")
    slaac = {"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}
    first = api.subnet(net6["id"], "2001:db8:1::/64", **slaac)
    second = api.subnet(net6["id"], "2001:db8:2::/64", **slaac)
    v4 = api.subnet(net4["id"], "10.0.4.0/24")
    router = _router(api, **mode)
    by_subnet = _add(api, router["id"], subnet_id=first["id"])
    assert _add(api, router["id"], subnet_id=second["id"])["port_id"] == by_subnet["port_id"]
    by_port = _add(api, router["id"], port_id=api.port(net4["id"])["id"])
    return router, {
        "v6": by_subnet["port_id"],
        "v4": by_port["port_id"],
        "subnets": (first, second, v4),
    }


@pytest.mark.parametrize("owner", OWNERS)
def test_interfaces_take_the_owner_of_the_routers_mode(api: Api, owner: str) -> None:
    router, w = _world(api, MODES[owner])
    assert _owners(api, router["id"]) == {w["v6"]: owner, w["v4"]: owner}
    assert _listed(api, f"device_owner={owner}") == {w["v6"], w["v4"]}
    for other in OWNERS:
        if other != owner:
            assert _listed(api, f"device_owner={other}") == set()
    both = "&".join(f"device_owner={o}" for o in OWNERS)
    assert _listed(api, both) == {w["v6"], w["v4"]}
    # IPAM as for any router interface: the gateway addresses, no EUI-64 one
    port = api.get(f"/v2.0/ports/{w['v6']}").json()["port"]
    first, second, _ = w["subnets"]
    assert sorted(ip["ip_address"] for ip in port["fixed_ips"]) == sorted(
        [first["gateway_ip"], second["gateway_ip"]]
    )


@pytest.mark.parametrize("owner", OWNERS)
def test_in_use_checks_and_removal_hold_for_every_owner(api: Api, owner: str) -> None:
    router, w = _world(api, MODES[owner])
    first, second, v4 = w["subnets"]
    assert_error(api.delete(f"/v2.0/routers/{router['id']}"), 409, "RouterInUse")
    assert_error(api.delete(f"/v2.0/ports/{w['v6']}", "admin"), 409, "ServicePortInUse")
    assert_error(api.delete(f"/v2.0/subnets/{first['id']}"), 409, "SubnetInUse")
    assert_error(api.delete(f"/v2.0/subnets/{v4['id']}"), 409, "SubnetInUse")
    # the port is in use: another router may not take it
    other = _router(api, name="other")
    r = api.put(f"/v2.0/routers/{other['id']}/add_router_interface", {"port_id": w["v4"]})
    assert_error(r, 409, "PortInUse")
    path = f"/v2.0/routers/{router['id']}/remove_router_interface"
    assert api.put(path, {"subnet_id": first["id"]}).status_code == 200  # one prefix goes
    assert _owners(api, router["id"]) == {w["v6"]: owner, w["v4"]: owner}
    assert api.put(path, {"subnet_id": second["id"]}).status_code == 200  # and the port
    assert api.put(path, {"port_id": w["v4"]}).status_code == 200
    assert _owners(api, router["id"]) == {}
    assert api.delete(f"/v2.0/routers/{router['id']}").status_code == 204


def test_a_mode_change_reowns_the_interfaces_in_the_same_request(api: Api) -> None:
    router, w = _world(api, {})
    ports = (w["v6"], w["v4"])
    path = f"/v2.0/routers/{router['id']}"
    revisions = {p: api.get(f"/v2.0/ports/{p}").json()["port"]["revision_number"] for p in ports}
    # refused while up: nothing changes
    r = api.put(path, {"router": {"distributed": True}}, "admin")
    assert r.status_code == 400, r.text
    r = api.put(path, {"router": {"ha": True}}, "admin")
    assert r.status_code == 400, r.text
    assert _owners(api, router["id"]) == dict.fromkeys(ports, PLAIN)
    steps = [
        ({"distributed": True, "admin_state_up": False}, DVR),
        ({"distributed": False, "ha": True}, HA),
        ({"ha": False}, PLAIN),
        ({"ha": True}, HA),
        ({"ha": False, "distributed": True}, DVR),
    ]
    for body, owner in steps:
        r = api.put(path, {"router": body}, "admin")
        assert r.status_code == 200, r.text
        assert _owners(api, router["id"]) == dict.fromkeys(ports, owner), body
        assert _listed(api, f"device_id={router['id']}&device_owner={owner}") == set(ports)
        for port_id in ports:  # each re-owned port is a new revision
            now = api.get(f"/v2.0/ports/{port_id}").json()["port"]["revision_number"]
            assert now > revisions[port_id], body
            revisions[port_id] = now
    # a change of something else leaves the owners (and the ports) alone
    assert api.put(path, {"router": {"name": "renamed"}}, "admin").status_code == 200
    for port_id in ports:
        port = api.get(f"/v2.0/ports/{port_id}").json()["port"]
        assert (port["device_owner"], port["revision_number"]) == (DVR, revisions[port_id])


def test_the_gateway_and_ha_ports_keep_their_owners(api: Api) -> None:
    ext = api.network("admin", name="ext", **{"router:external": True})
    api.subnet(ext["id"], "2001:db8:ff::/64", "admin")
    router, w = _world(api, {})
    path = f"/v2.0/routers/{router['id']}"
    body = {"external_gateway_info": {"network_id": ext["id"]}}
    assert api.put(path, {"router": body}, "admin").status_code == 200
    r = api.put(path, {"router": {"ha": True, "admin_state_up": False}}, "admin")
    assert r.status_code == 200, r.text
    listed = api.get(f"/v2.0/ports?device_id={router['id']}", "admin").json()["ports"]
    assert {p["id"] for p in listed if p["device_owner"] == HA} == {w["v6"], w["v4"]}
    assert [p["device_owner"] for p in listed].count("network:router_gateway") == 1
    assert {p["device_owner"] for p in listed} <= {
        HA,
        "network:router_gateway",
        "network:router_ha_interface",
    }
