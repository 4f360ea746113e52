"""Routers through the API: CRUD, interfaces by subnet and by port (R17), extra routes, tenancy."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from tests.api.conftest import Api, assert_error, error_of
from v6fabric.services.ports import PortService

SLAAC = {"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}
STATEFUL = {"ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"}
ROUTER_OWNER = "network:router_interface"


def _router(api: Api, user: str = "alice", **attrs: Any) -> dict[str, Any]:
    return api.create("router", user, **attrs)


def _add(api: Api, router_id: str, user: str = "alice", **body: Any) -> Any:
    return api.put(f"/v2.0/routers/{router_id}/add_router_interface", body, user)


def _remove(api: Api, router_id: str, user: str = "alice", **body: Any) -> Any:
    return api.put(f"/v2.0/routers/{router_id}/remove_router_interface", body, user)


def _router_ports(api: Api, router_id: str, user: str = "alice") -> list[dict[str, Any]]:
    return api.get(f"/v2.0/ports?device_id={router_id}&device_owner={ROUTER_OWNER}", user).json()[
        "ports"
    ]


def _show(api: Api, router_id: str, user: str = "alice") -> dict[str, Any]:
    r = api.get(f"/v2.0/routers/{router_id}", user)
    assert r.status_code == 200, r.text
    return r.json()["router"]


# --- CRUD ---------------------------------------------------------------------------------------


def test_router_crud_list_filters_and_pages(api: Api) -> None:
    r1 = _router(api, name="r1", description="first")
    assert r1["status"] == "ACTIVE" and r1["admin_state_up"] is True
    assert r1["external_gateway_info"] is None and r1["routes"] == [] and r1["tags"] == []
    assert r1["revision_number"] == 1 and r1["created_at"].endswith("Z")
    assert r1["project_id"] == r1["tenant_id"] == api.project_ids["alpha"]
    assert "distributed" not in r1 and "ha" not in r1  # admin-only attributes, as in Neutron
    r2 = _router(api, name="r2", admin_state_up=False)
    assert r2["admin_state_up"] is False
    assert _show(api, r1["id"]) == r1

    listed = api.get("/v2.0/routers?sort_key=name&sort_dir=desc").json()["routers"]
    assert [r["name"] for r in listed] == ["r2", "r1"]
    only = api.get("/v2.0/routers?admin_state_up=false").json()["routers"]
    assert [r["id"] for r in only] == [r2["id"]]
    page = api.get("/v2.0/routers?limit=1&sort_key=name").json()
    assert [r["name"] for r in page["routers"]] == ["r1"]
    assert page["routers_links"][0]["rel"] == "next"
    assert api.get("/v2.0/routers?fields=id&fields=name").json()["routers"][0].keys() == {
        "id",
        "name",
    }
    r = api.get("/v2.0/routers?colour=blue")
    assert r.status_code == 400

    r = api.put(f"/v2.0/routers/{r1['id']}", {"router": {"name": "renamed"}})
    assert r.status_code == 200, r.text
    assert r.json()["router"]["name"] == "renamed" and r.json()["router"]["revision_number"] == 2

    assert api.delete(f"/v2.0/routers/{r1['id']}").status_code == 204
    assert_error(
        api.get(f"/v2.0/routers/{r1['id']}"),
        404,
        "RouterNotFound",
        f"Router {r1['id']} could not be found",
    )
    assert api.delete(f"/v2.0/routers/{r1['id']}").status_code == 404


def test_a_gateway_on_a_network_that_is_not_external_is_refused_dvr_and_ha_too(api: Api) -> None:
    net = api.network()
    r = api.post("/v2.0/routers", {"router": {"external_gateway_info": {"network_id": net["id"]}}})
    assert_error(
        r, 400, "BadRequest", f"Bad router request: Network {net['id']} is not an external network."
    )
    assert api.get("/v2.0/routers").json()["routers"] == []
    router = _router(api, external_gateway_info=None)
    r = api.put(
        f"/v2.0/routers/{router['id']}",
        {"router": {"external_gateway_info": {"network_id": net["id"]}}},
    )
    assert_error(r, 400, "BadRequest")
    assert _show(api, router["id"])["revision_number"] == 1
    assert api.get(f"/v2.0/ports?network_id={net['id']}", "admin").json()["ports"] == []

    assert_error(
        api.post("/v2.0/routers", {"router": {"distributed": False}}),
        403,
        "PolicyNotAuthorized",
        "rule:create_router:distributed is disallowed by policy",
    )
    assert_error(
        api.post("/v2.0/routers", {"router": {"ha": True, "distributed": True}}, "admin"),
        400,
        "BadRequest",
        "Bad router request: Distributed HA routers are not supported yet.",
    )
    r = api.post("/v2.0/routers", {"router": {"distributed": True}}, "admin")  # R20
    assert r.status_code == 201 and r.json()["router"]["distributed"] is True, r.text
    admin_router = _router(api, "admin", distributed=False, ha=False)
    assert admin_router["distributed"] is False and admin_router["ha"] is False
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"ha": False}})
    assert r.status_code == 403
    # routes are set by update only (allow_post False in Neutron)
    r = api.post("/v2.0/routers", {"router": {"routes": []}})
    assert r.status_code == 400


def test_router_quota(api: Api) -> None:
    project = api.project_ids["alpha"]
    r = api.put(f"/v2.0/quotas/{project}", {"quota": {"router": 1}}, "admin")
    assert r.status_code == 200, r.text
    _router(api)
    assert_error(
        api.post("/v2.0/routers", {"router": {"name": "two"}}),
        409,
        "OverQuota",
        "Quota exceeded for resources: ['router'].",
    )
    assert len(api.get("/v2.0/routers").json()["routers"]) == 1


def test_extensions_are_listed(api: Api) -> None:
    aliases = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert {"router", "extraroute", "extraroute-atomic"} <= aliases
    resources = api.get("/v2.0/").json()["resources"]
    assert "routers" in [r["collection"] for r in resources]


# --- interfaces by subnet -----------------------------------------------------------------------


def test_add_and_remove_interface_by_subnet(api: Api) -> None:
    net = api.network()
    subnet = api.subnet(net["id"], "2001:db8:1::/64", **SLAAC)
    router = _router(api)
    r = _add(api, router["id"], subnet_id=subnet["id"])
    assert r.status_code == 200, r.text
    info = r.json()
    port = _router_ports(api, router["id"])[0]
    assert info == {
        "id": router["id"],
        "tenant_id": router["project_id"],
        "project_id": router["project_id"],
        "port_id": port["id"],
        "network_id": net["id"],
        "subnet_id": subnet["id"],
        "subnet_ids": [subnet["id"]],
    }
    # the gateway address (Neutron's default IPv6 gateway is the subnet-router anycast
    # address), no EUI-64 address for a router port
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "2001:db8:1::"}]
    assert port["device_owner"] == ROUTER_OWNER and port["device_id"] == router["id"]
    assert port["name"] == "" and port["admin_state_up"] is True
    assert port["project_id"] == router["project_id"]
    assert _show(api, router["id"])["revision_number"] == 2

    r = _remove(api, router["id"], subnet_id=subnet["id"])
    assert r.status_code == 200, r.text
    assert r.json() == {**info}
    assert _router_ports(api, router["id"]) == []
    assert api.get(f"/v2.0/ports/{port['id']}").status_code == 404
    assert_error(
        _remove(api, router["id"], subnet_id=subnet["id"]),
        404,
        "RouterInterfaceNotFoundForSubnet",
        f"Router {router['id']} has no interface on subnet {subnet['id']}",
    )
    assert api.delete(f"/v2.0/routers/{router['id']}").status_code == 204


def test_ipv6_subnets_of_one_network_share_one_port_r17(api: Api) -> None:
    net = api.network()
    slaac = api.subnet(net["id"], "2001:db8:1::/64", **SLAAC)
    stateful = api.subnet(net["id"], "2001:db8:2::/64", gateway_ip="2001:db8:2::1", **STATEFUL)
    router = _router(api)
    first = _add(api, router["id"], subnet_id=slaac["id"]).json()
    r = _add(api, router["id"], subnet_id=stateful["id"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["port_id"] == first["port_id"]
    assert second["subnet_id"] == stateful["id"] and second["subnet_ids"] == [stateful["id"]]
    ports = _router_ports(api, router["id"])
    assert len(ports) == 1
    assert ports[0]["fixed_ips"] == [
        {"subnet_id": slaac["id"], "ip_address": "2001:db8:1::"},
        {"subnet_id": stateful["id"], "ip_address": "2001:db8:2::1"},
    ]
    assert ports[0]["revision_number"] == 2

    # removing one prefix keeps the port with the other
    r = _remove(api, router["id"], subnet_id=slaac["id"])
    assert r.status_code == 200 and r.json()["port_id"] == first["port_id"]
    ports = _router_ports(api, router["id"])
    assert [p["fixed_ips"] for p in ports] == [
        [{"subnet_id": stateful["id"], "ip_address": "2001:db8:2::1"}]
    ]
    # and the prefix can come back onto the same port
    assert _add(api, router["id"], subnet_id=slaac["id"]).json()["port_id"] == first["port_id"]
    assert _remove(api, router["id"], subnet_id=stateful["id"]).status_code == 200
    assert _remove(api, router["id"], subnet_id=slaac["id"]).status_code == 200
    assert _router_ports(api, router["id"]) == []


def test_dual_stack_ipv4_subnets_get_their_own_ports(api: Api) -> None:
    net = api.network()
    v4a = api.subnet(net["id"], "10.0.1.0/24")
    v4b = api.subnet(net["id"], "10.0.2.0/24")
    v6 = api.subnet(net["id"], "2001:db8:1::/64", **SLAAC)
    router = _router(api)
    port_ids = [
        _add(api, router["id"], subnet_id=s["id"]).json()["port_id"] for s in (v4a, v6, v4b)
    ]
    assert len(set(port_ids)) == 3
    by_port = {p["id"]: p["fixed_ips"] for p in _router_ports(api, router["id"])}
    assert by_port[port_ids[0]] == [{"subnet_id": v4a["id"], "ip_address": "10.0.1.1"}]
    assert by_port[port_ids[1]] == [{"subnet_id": v6["id"], "ip_address": "2001:db8:1::"}]
    assert by_port[port_ids[2]] == [{"subnet_id": v4b["id"], "ip_address": "10.0.2.1"}]


def test_subnet_receiving_external_ras_cannot_be_added(api: Api) -> None:
    net = api.network()
    external_ra = api.subnet(net["id"], "2001:db8:5::/64", ipv6_address_mode="slaac")
    router = _router(api)
    assert_error(
        _add(api, router["id"], subnet_id=external_ra["id"]),
        400,
        "BadRequest",
        f"Bad router request: IPv6 subnet {external_ra['id']} configured to receive RAs from "
        "an external router cannot be added to Neutron Router.",
    )
    # ra_mode alone (RAs from our router, addresses not managed) is fine
    ra_only = api.subnet(net["id"], "2001:db8:6::/64", ipv6_ra_mode="slaac")
    assert _add(api, router["id"], subnet_id=ra_only["id"]).status_code == 200
    # the same rule by port: a port on the external-RA subnet
    port = api.port(net["id"], fixed_ips=[{"subnet_id": external_ra["id"]}])
    other = _router(api)
    r = _add(api, other["id"], port_id=port["id"])
    assert_error(r, 400, "BadRequest")
    assert "configured to receive RAs from an external router" in error_of(r)["message"]


def test_gateway_already_allocated_and_missing_gateway(api: Api) -> None:
    net = api.network()
    subnet = api.subnet(net["id"], "2001:db8:3::/64", gateway_ip="2001:db8:3::1", **STATEFUL)
    squatter = api.port(
        net["id"], fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "2001:db8:3::1"}]
    )
    router = _router(api)
    assert_error(
        _add(api, router["id"], subnet_id=subnet["id"]),
        409,
        "IpAddressAlreadyAllocated",
        f"IP address 2001:db8:3::1 already allocated in subnet {subnet['id']}",
    )
    assert _router_ports(api, router["id"]) == []
    assert _show(api, router["id"])["revision_number"] == 1  # nothing changed
    assert api.delete(f"/v2.0/ports/{squatter['id']}").status_code == 204
    assert _add(api, router["id"], subnet_id=subnet["id"]).status_code == 200

    no_gateway = api.subnet(net["id"], "2001:db8:4::/64", gateway_ip=None, **STATEFUL)
    assert_error(
        _add(api, router["id"], subnet_id=no_gateway["id"]),
        400,
        "BadRequest",
        "Bad router request: Subnet for router interface must have a gateway IP.",
    )


def test_same_subnet_twice_and_overlapping_subnets(api: Api) -> None:
    net_a, net_b = api.network(), api.network()
    a = api.subnet(net_a["id"], "2001:db8:1::/64", **SLAAC)
    b = api.subnet(net_b["id"], "2001:db8:1::/64", **SLAAC)  # same prefix, another network
    router = _router(api)
    assert _add(api, router["id"], subnet_id=a["id"]).status_code == 200
    assert_error(
        _add(api, router["id"], subnet_id=a["id"]),
        400,
        "BadRequest",
        f"Bad router request: Router already has a port on subnet {a['id']}.",
    )
    assert_error(
        _add(api, router["id"], subnet_id=b["id"]),
        400,
        "BadRequest",
        f"Bad router request: Cidr 2001:db8:1::/64 of subnet {b['id']} overlaps with cidr "
        f"2001:db8:1::/64 of subnet {a['id']}.",
    )
    assert len(_router_ports(api, router["id"])) == 1
    assert _add(api, _router(api)["id"], subnet_id=b["id"]).status_code == 200


def test_interface_body_validation(api: Api) -> None:
    net = api.network()
    subnet = api.subnet(net["id"], "2001:db8:1::/64", **SLAAC)
    port = api.port(net["id"])
    router = _router(api)
    assert_error(
        _add(api, router["id"]),
        400,
        "BadRequest",
        "Bad router request: Either subnet_id or port_id must be specified.",
    )
    assert_error(
        _add(api, router["id"], subnet_id=subnet["id"], port_id=port["id"]),
        400,
        "BadRequest",
        "Bad router request: Cannot specify both subnet-id and port-id.",
    )
    assert_error(
        _add(api, router["id"], subnet_id="nonsense"),
        400,
        "BadRequest",
        "Bad router request: 'nonsense' is not a valid UUID.",
    )
    r = _add(api, router["id"], colour="blue")
    assert r.status_code == 400
    missing = "9b3b1a4e-0000-4000-8000-000000000000"
    assert_error(_add(api, missing, subnet_id=subnet["id"]), 404, "RouterNotFound")
    assert_error(_add(api, router["id"], subnet_id=missing), 404, "SubnetNotFound")
    assert_error(_add(api, router["id"], port_id=missing), 404, "PortNotFound")


# --- interfaces by port -------------------------------------------------------------------------


def test_add_and_remove_interface_by_port(api: Api) -> None:
    net = api.network()
    stateful = api.subnet(net["id"], "2001:db8:3::/64", **STATEFUL)
    v4 = api.subnet(net["id"], "10.0.3.0/24")
    port = api.port(
        net["id"],
        fixed_ips=[
            {"subnet_id": v4["id"], "ip_address": "10.0.3.254"},
            {"subnet_id": stateful["id"], "ip_address": "2001:db8:3::fe"},
        ],
    )
    router = _router(api)
    r = _add(api, router["id"], port_id=port["id"])
    assert r.status_code == 200, r.text
    assert r.json() == {
        "id": router["id"],
        "tenant_id": port["project_id"],
        "project_id": port["project_id"],
        "port_id": port["id"],
        "network_id": net["id"],
        "subnet_id": stateful["id"],
        "subnet_ids": [v4["id"], stateful["id"]],
    }
    attached = api.get(f"/v2.0/ports/{port['id']}").json()["port"]
    assert attached["device_owner"] == ROUTER_OWNER and attached["device_id"] == router["id"]
    assert attached["fixed_ips"] == port["fixed_ips"]  # the port keeps its addresses
    assert attached["revision_number"] == port["revision_number"] + 1

    # attached to a device: another router cannot take it
    other = _router(api)
    assert_error(
        _add(api, other["id"], port_id=port["id"]),
        409,
        "PortInUse",
        f"Unable to complete operation on port {port['id']} for network {net['id']}. "
        f"Port already has an attached device {router['id']}.",
    )
    # one IPv6 port per network on a router
    second = api.port(
        net["id"], fixed_ips=[{"subnet_id": stateful["id"], "ip_address": "2001:db8:3::fd"}]
    )
    r = _add(api, router["id"], port_id=second["id"])
    assert_error(r, 400, "BadRequest")
    assert f"Router already contains IPv6 port {port['id']}" in error_of(r)["message"]

    # removal by port with a subnet the port does not have
    assert_error(
        _remove(api, router["id"], port_id=port["id"], subnet_id=second["id"]),
        400,
        "SubnetMismatchForPort",
        f"Subnet on port {port['id']} does not match the requested subnet {second['id']}.",
    )
    assert_error(
        _remove(api, router["id"], port_id=second["id"]),
        404,
        "RouterInterfaceNotFound",
        f"Router {router['id']} does not have an interface with id {second['id']}",
    )
    r = _remove(api, router["id"], port_id=port["id"], subnet_id=v4["id"])
    assert r.status_code == 200, r.text
    assert r.json()["subnet_id"] == v4["id"]
    assert r.json()["subnet_ids"] == [v4["id"], stateful["id"]]
    assert api.get(f"/v2.0/ports/{port['id']}").status_code == 404  # the port is deleted


def test_port_without_addresses_or_with_two_ipv4_subnets(api: Api) -> None:
    net = api.network()
    bare = api.port(net["id"])
    router = _router(api)
    assert_error(
        _add(api, router["id"], port_id=bare["id"]),
        400,
        "BadRequest",
        "Bad router request: Router port must have at least one fixed IP.",
    )
    a = api.subnet(net["id"], "10.0.1.0/24")
    b = api.subnet(net["id"], "10.0.2.0/24")
    two = api.port(net["id"], fixed_ips=[{"subnet_id": a["id"]}, {"subnet_id": b["id"]}])
    assert_error(
        _add(api, router["id"], port_id=two["id"]),
        400,
        "BadRequest",
        "Bad router request: Cannot have multiple IPv4 subnets on router port.",
    )
    unchanged = api.get(f"/v2.0/ports/{two['id']}").json()["port"]
    assert unchanged["device_owner"] == "" and unchanged["device_id"] == ""


# --- extra routes -------------------------------------------------------------------------------


def test_extra_routes(api: Api) -> None:
    net = api.network()
    subnet = api.subnet(net["id"], "2001:db8:3::/64", gateway_ip="2001:db8:3::1", **STATEFUL)
    router = _router(api)
    url = f"/v2.0/routers/{router['id']}"
    route = {"destination": "2001:db8:99::/64", "nexthop": "2001:db8:3::10"}
    r = api.put(url, {"router": {"routes": [route]}})
    assert_error(r, 400, "InvalidRoutes")
    assert error_of(r)["message"] == (
        f"Invalid format for routes: {[route]}, the nexthop is not connected with router"
    )
    assert _add(api, router["id"], subnet_id=subnet["id"]).status_code == 200
    r = api.put(url, {"router": {"routes": [route]}})
    assert r.status_code == 200, r.text
    assert r.json()["router"]["routes"] == [route]

    own = {"destination": "2001:db8:98::/64", "nexthop": "2001:db8:3::1"}
    r = api.put(url, {"router": {"routes": [own]}})
    assert_error(r, 400, "InvalidRoutes")
    assert error_of(r)["message"].endswith("the nexthop is used by router")
    mixed = {"destination": "10.9.0.0/16", "nexthop": "2001:db8:3::10"}
    assert_error(api.put(url, {"router": {"routes": [mixed]}}), 400, "InvalidRoutes")
    for bad, reason in (
        ({"destination": "2001:db8:99::1/64", "nexthop": "2001:db8:3::10"}, "not a valid CIDR"),
        ({"destination": "2001:db8:99::/64", "nexthop": "nowhere"}, "not a valid IP address"),
        ({"destination": "2001:db8:99::/64"}, "Validation of dictionary's keys failed"),
    ):
        r = api.put(url, {"router": {"routes": [bad]}})
        assert_error(r, 400, "HTTPBadRequest")
        assert error_of(r)["message"].startswith("Invalid input for routes. Reason: ")
        assert reason in error_of(r)["message"]
    r = api.put(url, {"router": {"routes": [route, dict(route)]}})
    assert r.status_code == 400 and "Duplicate hostroute" in error_of(r)["message"]
    many = [
        {"destination": f"2001:db8:{i:x}::/64", "nexthop": "2001:db8:3::10"}
        for i in range(0x100, 0x100 + 31)
    ]
    assert_error(api.put(url, {"router": {"routes": many}}), 400, "RoutesExhausted")
    assert _show(api, router["id"])["routes"] == [route]  # failures changed nothing

    # the interface a route needs cannot go
    assert_error(
        _remove(api, router["id"], subnet_id=subnet["id"]),
        409,
        "RouterInterfaceInUseByRoute",
        f"Router interface for subnet {subnet['id']} on router {router['id']} cannot be "
        "deleted, as it is required by one or more routes.",
    )
    port_id = _router_ports(api, router["id"])[0]["id"]
    assert_error(_remove(api, router["id"], port_id=port_id), 409, "RouterInterfaceInUseByRoute")
    r = api.put(url, {"router": {"routes": None}})
    assert r.status_code == 200 and r.json()["router"]["routes"] == []
    assert _remove(api, router["id"], subnet_id=subnet["id"]).status_code == 200


def test_extraroute_atomic(api: Api) -> None:
    net = api.network()
    subnet = api.subnet(net["id"], "10.0.3.0/24")
    router = _router(api)
    assert _add(api, router["id"], subnet_id=subnet["id"]).status_code == 200
    url = f"/v2.0/routers/{router['id']}"
    one = {"destination": "10.10.0.0/16", "nexthop": "10.0.3.10"}
    two = {"destination": "10.20.0.0/16", "nexthop": "10.0.3.20"}
    r = api.put(f"{url}/add_extraroutes", {"router": {"routes": [one, two]}})
    assert r.status_code == 200, r.text
    assert r.json()["router"]["routes"] == [one, two]
    r = api.put(f"{url}/add_extraroutes", {"router": {"routes": [one]}})
    assert r.json()["router"]["routes"] == [one, two]  # exact duplicates merge
    far = {"destination": "10.30.0.0/16", "nexthop": "192.0.2.1"}
    assert_error(
        api.put(f"{url}/add_extraroutes", {"router": {"routes": [far]}}), 400, "InvalidRoutes"
    )
    r = api.put(f"{url}/remove_extraroutes", {"router": {"routes": [one, far]}})
    assert r.status_code == 200 and r.json()["router"]["routes"] == [two]


# --- in use -------------------------------------------------------------------------------------


def test_router_and_its_ports_in_use(api: Api) -> None:
    net = api.network()
    subnet = api.subnet(net["id"], "2001:db8:1::/64", **SLAAC)
    router = _router(api)
    port_id = _add(api, router["id"], subnet_id=subnet["id"]).json()["port_id"]
    assert_error(
        api.delete(f"/v2.0/routers/{router['id']}"),
        409,
        "RouterInUse",
        f"Router {router['id']} has ports still attached: {port_id}",
    )
    assert_error(api.delete(f"/v2.0/subnets/{subnet['id']}"), 409, "SubnetInUse")
    assert_error(api.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    assert _remove(api, router["id"], port_id=port_id).status_code == 200
    assert api.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    assert api.delete(f"/v2.0/networks/{net['id']}").status_code == 204


_HOOKED = "prevent_router_port_deletion" in inspect.getsource(PortService.delete)


@pytest.mark.skipif(not _HOOKED, reason="ports.delete does not call the router guard yet")
def test_router_port_cannot_be_deleted_through_the_port_api(api: Api) -> None:
    net = api.network()
    subnet = api.subnet(net["id"], "2001:db8:1::/64", **SLAAC)
    router = _router(api)
    port_id = _add(api, router["id"], subnet_id=subnet["id"]).json()["port_id"]
    assert_error(
        api.delete(f"/v2.0/ports/{port_id}"),
        409,
        "ServicePortInUse",
        f"Port {port_id} cannot be deleted directly via the port API: "
        "has device owner network:router_interface.",
    )
    # a router-owned port whose router does not exist is an ordinary port to delete
    loose = api.port(net["id"], device_owner=ROUTER_OWNER, device_id="no-such-router")
    assert api.delete(f"/v2.0/ports/{loose['id']}").status_code == 204


# --- tenancy ------------------------------------------------------------------------------------


def test_projects_cannot_see_or_use_each_others_routers(api: Api) -> None:
    alice_net = api.network("alice")
    alice_subnet = api.subnet(alice_net["id"], "2001:db8:1::/64", "alice", **SLAAC)
    alice_port = api.port(alice_net["id"], "alice", fixed_ips=[{"subnet_id": alice_subnet["id"]}])
    alice_router = _router(api, "alice")
    bob_router = _router(api, "bob")
    url = f"/v2.0/routers/{alice_router['id']}"

    assert [r["id"] for r in api.get("/v2.0/routers", "bob").json()["routers"]] == [
        bob_router["id"]
    ]
    assert_error(api.get(url, "bob"), 404, "RouterNotFound")
    assert_error(api.put(url, {"router": {"name": "x"}}, "bob"), 404, "RouterNotFound")
    assert_error(api.delete(url, "bob"), 404, "RouterNotFound")
    assert_error(
        _add(api, alice_router["id"], "bob", subnet_id=alice_subnet["id"]), 404, "RouterNotFound"
    )
    assert_error(
        _add(api, bob_router["id"], "bob", subnet_id=alice_subnet["id"]), 404, "SubnetNotFound"
    )
    assert_error(_add(api, bob_router["id"], "bob", port_id=alice_port["id"]), 404, "PortNotFound")
    assert _router_ports(api, bob_router["id"], "bob") == []

    # the admin sees every router and may plug alice's subnet into alice's router
    ids = {r["id"] for r in api.get("/v2.0/routers", "admin").json()["routers"]}
    assert {alice_router["id"], bob_router["id"]} <= ids
    info = _add(api, alice_router["id"], "admin", subnet_id=alice_subnet["id"]).json()
    assert info["project_id"] == api.project_ids["alpha"]
    assert [p["id"] for p in _router_ports(api, alice_router["id"], "alice")] == [info["port_id"]]


def test_subnet_of_a_shared_network_is_not_the_callers(api: Api) -> None:
    shared = api.network("admin", shared=True)
    subnet = api.subnet(shared["id"], "2001:db8:50::/64", "admin", **SLAAC)
    router = _router(api, "bob")
    assert_error(
        _add(api, router["id"], "bob", subnet_id=subnet["id"]),
        400,
        "BadRequest",
        f"Bad router request: Cannot add interface to router because subnet {subnet['id']} "
        "is not owned by project making the request.",
    )


def test_reader_reads_but_cannot_write(api: Api) -> None:
    net = api.network("alice")
    subnet = api.subnet(net["id"], "2001:db8:1::/64", "alice", **SLAAC)
    router = _router(api, "alice")
    url = f"/v2.0/routers/{router['id']}"
    assert _show(api, router["id"], "rita")["id"] == router["id"]
    assert_error(
        api.post("/v2.0/routers", {"router": {"name": "r"}}, "rita"), 403, "PolicyNotAuthorized"
    )
    assert_error(api.put(url, {"router": {"name": "x"}}, "rita"), 403, "PolicyNotAuthorized")
    assert_error(api.delete(url, "rita"), 403, "PolicyNotAuthorized")
    assert_error(
        _add(api, router["id"], "rita", subnet_id=subnet["id"]), 403, "PolicyNotAuthorized"
    )
    assert _add(api, router["id"], "alice", subnet_id=subnet["id"]).status_code == 200
    assert_error(
        _remove(api, router["id"], "rita", subnet_id=subnet["id"]), 403, "PolicyNotAuthorized"
    )
    r = api.put(f"{url}/add_extraroutes", {"router": {"routes": []}}, "rita")
    assert_error(r, 403, "PolicyNotAuthorized")
