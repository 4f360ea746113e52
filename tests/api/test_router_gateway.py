"""R4 through the API: a router's external gateway (``external_gateway_info``), the port behind
it, the checks Neutron makes, and the L3 hosts a router with a gateway may run on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, assert_error
from v6fabric.domain.addresses import eui64_address, parse_cidr

GATEWAY_OWNER = "network:router_gateway"


def _external(api: Api, flat: bool = True) -> dict[str, Any]:
    """An external network: flat on physnet1, or (not ``flat``) the tenant type, VXLAN."""
    provider = {"provider:network_type": "flat", "provider:physical_network": "physnet1"}
    return api.network(
        "admin", name="public", **{"router:external": True}, **(provider if flat else {})
    )


def _gateway_ports(api: Api, network_id: str | None = None) -> list[dict[str, Any]]:
    query = f"?device_owner={GATEWAY_OWNER}"
    if network_id:
        query += f"&network_id={network_id}"
    return api.get(f"/v2.0/ports{query}", "admin").json()["ports"]


def _router(api: Api, user: str = "alice", **attrs: Any) -> Any:
    return api.post("/v2.0/routers", {"router": {"name": "r", **attrs}}, user)


def _set(api: Api, router_id: str, info: Any, user: str = "alice") -> Any:
    return api.put(f"/v2.0/routers/{router_id}", {"router": {"external_gateway_info": info}}, user)


def _register(api: Api, host: str, roles: list[str], physnets: dict[str, str]) -> None:
    body = {"roles": roles, "capabilities": {"physical_networks": physnets}}
    r = api.put(f"/fabric/v1/hosts/{host}", body, "admin")
    assert r.status_code == 200, r.text


def _hosting(api: Api, router_id: str) -> list[str]:
    r = api.get(f"/v2.0/routers/{router_id}/l3-agents", "admin")
    return [agent["host"] for agent in r.json()["agents"]]


def test_a_gateway_on_an_external_network_without_subnets_has_a_port_and_no_address(
    api: Api,
) -> None:
    public = _external(api)
    r = _router(api, external_gateway_info={"network_id": public["id"]})
    assert r.status_code == 201, r.text
    router = r.json()["router"]
    assert router["external_gateway_info"] == {
        "network_id": public["id"],
        "enable_snat": True,
        "external_fixed_ips": [],
    }
    (port,) = _gateway_ports(api, public["id"])
    assert port["device_id"] == router["id"]
    assert port["project_id"] == ""  # as Neutron: no project, tenants never see it
    assert port["fixed_ips"] == []
    assert api.get("/v2.0/ports").json()["ports"] == []
    shown = api.get(f"/v2.0/routers/{router['id']}").json()["router"]
    assert shown["external_gateway_info"] == router["external_gateway_info"]


def test_a_gateway_gets_its_eui64_address_on_slaac_and_a_pool_address_elsewhere(api: Api) -> None:
    public = _external(api)
    v6 = api.subnet(
        public["id"],
        "2001:db8:ff::/64",
        "admin",
        ipv6_address_mode="slaac",
        gateway_ip="2001:db8:ff::1",
    )
    v4 = api.subnet(public["id"], "203.0.113.0/24", "admin")
    router = _router(api, external_gateway_info={"network_id": public["id"]}).json()["router"]
    (port,) = _gateway_ports(api, public["id"])
    eui64 = str(eui64_address(parse_cidr("2001:db8:ff::/64"), port["mac_address"]))  # type: ignore[arg-type]
    got = {
        (ip["subnet_id"], ip["ip_address"])
        for ip in router["external_gateway_info"]["external_fixed_ips"]
    }
    assert (v6["id"], eui64) in got
    assert any(subnet == v4["id"] for subnet, _ in got)


def test_an_admin_chooses_the_gateway_addresses_and_a_user_may_not(api: Api) -> None:
    public = _external(api)
    v6 = api.subnet(public["id"], "2001:db8:ff::/64", "admin", gateway_ip="2001:db8:ff::1")
    chosen = {"network_id": public["id"], "external_fixed_ips": [{"ip_address": "2001:db8:ff::10"}]}
    assert_error(
        _router(api, external_gateway_info=chosen),
        403,
        "PolicyNotAuthorized",
        "rule:create_router:external_gateway_info:external_fixed_ips is disallowed by policy",
    )
    assert_error(
        _router(api, external_gateway_info={"network_id": public["id"], "enable_snat": False}),
        403,
        "PolicyNotAuthorized",
    )
    assert api.get("/v2.0/routers", "admin").json()["routers"] == []
    same_as_gateway = {
        "network_id": public["id"],
        "external_fixed_ips": [{"subnet_id": v6["id"], "ip_address": "2001:db8:ff::1"}],
    }
    assert_error(
        _router(api, "admin", external_gateway_info=same_as_gateway),
        400,
        "BadRequest",
        "Bad router request: External IP 2001:db8:ff::1 is the same as the gateway IP.",
    )
    assert api.get("/v2.0/routers", "admin").json()["routers"] == []
    spelled_otherwise = {
        "network_id": public["id"],
        "external_fixed_ips": [{"ip_address": "2001:db8:ff:0:0::1"}],
    }
    assert_error(_router(api, "admin", external_gateway_info=spelled_otherwise), 400, "BadRequest")
    assert _gateway_ports(api) == []
    r = _router(api, "admin", external_gateway_info={**chosen, "enable_snat": False})
    assert r.status_code == 201, r.text
    info = r.json()["router"]["external_gateway_info"]
    assert info["enable_snat"] is False
    assert info["external_fixed_ips"] == [{"subnet_id": v6["id"], "ip_address": "2001:db8:ff::10"}]
    moved = {**chosen, "external_fixed_ips": [{"ip_address": "2001:db8:ff::11"}]}
    r = _set(api, r.json()["router"]["id"], moved, "admin")
    assert r.status_code == 200, r.text
    (port,) = _gateway_ports(api)
    assert [ip["ip_address"] for ip in port["fixed_ips"]] == ["2001:db8:ff::11"]


@pytest.mark.parametrize(
    ("info", "status", "fragment"),
    [
        ("public", 400, "Invalid input for external_gateway_info"),
        ({"enable_snat": True}, 400, "Expected keys: {'network_id'}"),
        ({"network_id": "x", "foo": 1}, 400, "Expected keys"),
        ({"network_id": "not-a-uuid"}, 400, "'not-a-uuid' is not a valid UUID"),
        ({"network_id": "6b5a2b4e-0f4a-4a49-9a57-2b1f7c2f4d11"}, 404, "could not be found"),
    ],
)
def test_malformed_gateways_get_neutrons_errors_and_change_nothing(
    api: Api, info: Any, status: int, fragment: str
) -> None:
    router = _router(api).json()["router"]
    r = _set(api, router["id"], info)
    assert r.status_code == status, r.text
    assert fragment in r.json()["NeutronError"]["message"]
    shown = api.get(f"/v2.0/routers/{router['id']}").json()["router"]
    assert shown["external_gateway_info"] is None and shown["revision_number"] == 1


def test_changing_clearing_and_deleting_take_the_port_with_them(api: Api) -> None:
    first, second = _external(api), _external(api, flat=False)
    router = _router(api, external_gateway_info={"network_id": first["id"]}).json()["router"]
    (old,) = _gateway_ports(api)
    r = _set(api, router["id"], {"network_id": second["id"]})
    assert r.json()["router"]["external_gateway_info"]["network_id"] == second["id"]
    (new,) = _gateway_ports(api)
    assert new["id"] != old["id"] and new["network_id"] == second["id"]
    assert_error(
        api.delete(f"/v2.0/ports/{new['id']}", "admin"),
        409,
        "ServicePortInUse",
        f"Port {new['id']} cannot be deleted directly via the port API: has device owner "
        f"{GATEWAY_OWNER}.",
    )
    assert_error(
        api.put(f"/v2.0/networks/{second['id']}", {"network": {"router:external": False}}, "admin"),
        409,
        "ExternalNetworkInUse",
    )
    assert_error(api.delete(f"/v2.0/networks/{second['id']}", "admin"), 409, "NetworkInUse")
    for cleared in ({}, None):
        r = _set(api, router["id"], cleared)
        assert r.status_code == 200 and r.json()["router"]["external_gateway_info"] is None
        assert _gateway_ports(api) == []
    _set(api, router["id"], {"network_id": first["id"]})
    assert api.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    assert _gateway_ports(api) == []
    assert api.delete(f"/v2.0/networks/{first['id']}", "admin").status_code == 204


def test_interfaces_may_not_overlap_the_gateway_and_routes_may_use_it(api: Api) -> None:
    public = _external(api)
    api.subnet(public["id"], "2001:db8:ff::/64", "admin", gateway_ip="2001:db8:ff::1")
    router = _router(api, external_gateway_info={"network_id": public["id"]}).json()["router"]
    net = api.network()
    inside = api.subnet(
        net["id"], "2001:db8:ff::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": inside["id"]})
    assert_error(r, 400, "BadRequest")
    assert "overlaps with cidr 2001:db8:ff::/64" in r.json()["NeutronError"]["message"]
    query = f"network_id={net['id']}&device_owner=network:router_interface"
    assert api.get(f"/v2.0/ports?{query}").json()["ports"] == []
    route = {"destination": "2001:db8:aa::/48", "nexthop": "2001:db8:ff::1"}
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"routes": [route]}})
    assert r.status_code == 200, r.text
    r = _set(api, router["id"], None)  # the route's next hop would be off-link
    assert_error(r, 400, "InvalidRoutes")
    assert _gateway_ports(api) != []


def test_a_router_with_a_gateway_runs_only_on_an_l3_host_that_carries_its_network(
    api: Api,
) -> None:
    _register(api, "l3a", ["network"], {})
    _register(api, "l3b", ["network"], {"physnet1": "eth1"})
    public = _external(api)
    plain = [_router(api, name=f"p{n}").json()["router"] for n in range(2)]
    assert sorted(h for r in plain for h in _hosting(api, r["id"])) == ["l3a", "l3b"]
    for n in range(3):
        r = _router(api, name=f"g{n}", external_gateway_info={"network_id": public["id"]})
        assert _hosting(api, r.json()["router"]["id"]) == ["l3b"]
    on_a = next(r for r in plain if _hosting(api, r["id"]) == ["l3a"])
    r = _set(api, on_a["id"], {"network_id": public["id"]})
    assert r.status_code == 200, r.text
    assert _hosting(api, on_a["id"]) == ["l3b"]  # moved to a host that can carry it
    _register(api, "l3b", ["network"], {})
    elsewhere = _router(api).json()["router"]
    r = _set(api, elsewhere["id"], {"network_id": public["id"]})
    assert_error(r, 409, "NoL3HostForExternalNetwork")
    assert (
        "l3a: it has no interface on physical network physnet1"
        in r.json()["NeutronError"]["message"]
    )
    assert (
        api.get(f"/v2.0/routers/{elsewhere['id']}").json()["router"]["external_gateway_info"]
        is None
    )


def test_upstream_routes_name_each_tenant_prefix_and_the_gateway_to_send_it_to(api: Api) -> None:
    public = _external(api)
    router = _router(api, external_gateway_info={"network_id": public["id"]}).json()["router"]
    prefixes = []
    for n in (1, 2):
        net = api.network(name=f"n{n}")
        cidr = f"2001:db8:{n}::/64"
        subnet = api.subnet(net["id"], cidr, ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
        r = api.put(
            f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]}
        )
        assert r.status_code == 200, r.text
        prefixes.append(cidr)
    v4 = api.subnet(api.network(name="v4")["id"], "10.1.0.0/24")
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": v4["id"]})
    (port,) = _gateway_ports(api)
    link_local = str(eui64_address(parse_cidr("fe80::/64"), port["mac_address"]))  # type: ignore[arg-type]
    routes = api.get("/v2.0/upstream_routes").json()["upstream_routes"]
    assert [(r["destination"], r["nexthop"]) for r in routes] == [(p, link_local) for p in prefixes]
    assert {r["router_id"] for r in routes} == {router["id"]}
    assert {r["external_network_id"] for r in routes} == {public["id"]}
    assert api.get("/v2.0/upstream_routes", "bob").json()["upstream_routes"] == []
    other = _external(api, flat=False)
    query = f"external_network_id={other['id']}"
    assert api.get(f"/v2.0/upstream_routes?{query}", "admin").json()["upstream_routes"] == []
    # with addresses on the external network, they are the next hops; IPv4 without SNAT too
    api.subnet(public["id"], "2001:db8:ff::/64", "admin", gateway_ip="2001:db8:ff::1")
    api.subnet(public["id"], "203.0.113.0/24", "admin")
    chosen = [{"ip_address": "2001:db8:ff::10"}, {"ip_address": "203.0.113.10"}]
    info = {"network_id": public["id"], "external_fixed_ips": chosen, "enable_snat": False}
    assert _set(api, router["id"], info, "admin").status_code == 200
    routes = api.get(f"/v2.0/upstream_routes?router_id={router['id']}").json()["upstream_routes"]
    assert [(r["destination"], r["nexthop"]) for r in routes] == [
        ("10.1.0.0/24", "203.0.113.10"),
        *[(p, "2001:db8:ff::10") for p in prefixes],
    ]
