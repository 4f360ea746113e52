"""Ports through the API: EUI-64 on auto-address subnets, pools, chosen addresses (R7, R8)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import Api, error_of


def _dual_stack(api: Api) -> tuple[dict, dict, dict, dict, dict]:
    net = api.network(name="ds")
    v4 = api.subnet(net["id"], "10.1.0.0/24")
    slaac = api.subnet(
        net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    stateless = api.subnet(
        net["id"],
        "2001:db8:2::/64",
        ipv6_ra_mode="dhcpv6-stateless",
        ipv6_address_mode="dhcpv6-stateless",
    )
    stateful = api.subnet(
        net["id"],
        "2001:db8:3::/64",
        ipv6_ra_mode="dhcpv6-stateful",
        ipv6_address_mode="dhcpv6-stateful",
    )
    return net, v4, slaac, stateless, stateful


def test_eui64_address_from_mac(api: Api) -> None:
    net = api.network()
    api.subnet(net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    port = api.port(net["id"], mac_address="fa:16:3e:12:34:56")
    assert [i["ip_address"] for i in port["fixed_ips"]] == ["2001:db8:1:0:f816:3eff:fe12:3456"]
    assert port["status"] == "DOWN" and port["binding:vnic_type"] == "normal"


def test_port_on_four_subnets_gets_four_addresses_router_port_two(api: Api) -> None:
    net, v4, slaac, stateless, stateful = _dual_stack(api)
    port = api.port(net["id"])
    by_subnet = {i["subnet_id"]: i["ip_address"] for i in port["fixed_ips"]}
    assert set(by_subnet) == {v4["id"], slaac["id"], stateless["id"], stateful["id"]}
    router_port = api.port(net["id"], device_owner="network:router_interface")
    assert {i["subnet_id"] for i in router_port["fixed_ips"]} == {v4["id"], stateful["id"]}


def test_chosen_stateful_address_then_conflict(api: Api) -> None:
    net, _, _, _, stateful = _dual_stack(api)
    chosen = {"subnet_id": stateful["id"], "ip_address": "2001:db8:3::42"}
    p = api.port(net["id"], fixed_ips=[chosen])
    assert "2001:db8:3::42" in [i["ip_address"] for i in p["fixed_ips"]]
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [chosen]}})
    assert r.status_code == 409
    err = error_of(r)
    assert err["type"] == "IpAddressAlreadyAllocated"
    assert len(api.user_ports()) == 1


def test_chosen_address_on_slaac_subnet_is_accepted_r8(api: Api) -> None:
    net = api.network()
    slaac = api.subnet(
        net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    p = api.port(net["id"], fixed_ips=[{"subnet_id": slaac["id"], "ip_address": "2001:db8:1::77"}])
    assert p["fixed_ips"] == [{"subnet_id": slaac["id"], "ip_address": "2001:db8:1::77"}]


def test_address_outside_subnet_and_network(api: Api) -> None:
    net, _, _, _, stateful = _dual_stack(api)
    r = api.post(
        "/v2.0/ports",
        {
            "port": {
                "network_id": net["id"],
                "fixed_ips": [{"subnet_id": stateful["id"], "ip_address": "2001:db8:9::1"}],
            }
        },
    )
    assert r.status_code == 400 and error_of(r)["type"] == "InvalidIpForSubnet"
    r = api.post(
        "/v2.0/ports",
        {"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "2001:db8:9::1"}]}},
    )
    assert r.status_code == 400 and error_of(r)["type"] == "InvalidIpForNetwork"
    assert api.user_ports() == []


def test_outside_pool_inside_cidr_is_allowed(api: Api) -> None:
    net = api.network()
    s = api.subnet(
        net["id"],
        "2001:db8:3::/64",
        ipv6_address_mode="dhcpv6-stateful",
        allocation_pools=[{"start": "2001:db8:3::100", "end": "2001:db8:3::1ff"}],
    )
    p = api.port(net["id"], fixed_ips=[{"subnet_id": s["id"], "ip_address": "2001:db8:3::5"}])
    assert p["fixed_ips"][0]["ip_address"] == "2001:db8:3::5"


def test_new_slaac_subnet_adds_addresses_to_existing_ports(api: Api) -> None:
    net = api.network()
    port = api.port(net["id"], mac_address="fa:16:3e:00:00:01")
    assert port["fixed_ips"] == []
    s = api.subnet(net["id"], "2001:db8:5::/64", ipv6_ra_mode="slaac")
    port = api.get(f"/v2.0/ports/{port['id']}").json()["port"]
    assert port["fixed_ips"] == [
        {"subnet_id": s["id"], "ip_address": "2001:db8:5:0:f816:3eff:fe00:1"}
    ]


def test_mac_change_recomputes_eui64_and_keeps_stateful(api: Api) -> None:
    net, _, slaac, _, stateful = _dual_stack(api)
    port = api.port(net["id"], mac_address="fa:16:3e:00:00:01")
    stateful_ip = next(
        i["ip_address"] for i in port["fixed_ips"] if i["subnet_id"] == stateful["id"]
    )
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"mac_address": "fa:16:3e:00:00:02"}})
    assert r.status_code == 200, r.text
    ips = {i["subnet_id"]: i["ip_address"] for i in r.json()["port"]["fixed_ips"]}
    assert ips[slaac["id"]] == "2001:db8:1:0:f816:3eff:fe00:2"
    assert ips[stateful["id"]] == stateful_ip


def test_update_listing_only_stateful_ip_keeps_slaac(api: Api) -> None:
    net, v4, slaac, _, stateful = _dual_stack(api)
    port = api.port(net["id"])
    r = api.put(
        f"/v2.0/ports/{port['id']}",
        {"port": {"fixed_ips": [{"subnet_id": stateful["id"], "ip_address": "2001:db8:3::99"}]}},
    )
    assert r.status_code == 200, r.text
    subnets = {i["subnet_id"]: i["ip_address"] for i in r.json()["port"]["fixed_ips"]}
    assert subnets[stateful["id"]] == "2001:db8:3::99"
    assert slaac["id"] in subnets
    assert v4["id"] not in subnets


def test_mac_in_use_and_invalid_mac(api: Api) -> None:
    net = api.network()
    api.port(net["id"], mac_address="fa:16:3e:aa:bb:cc")
    r = api.post(
        "/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:aa:bb:cc"}}
    )
    assert r.status_code == 409 and error_of(r)["type"] == "MacAddressInUse"
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": "nonsense"}})
    assert r.status_code == 400


def test_allowed_address_pairs_need_port_security(api: Api) -> None:
    net = api.network()
    pairs = [{"ip_address": "2001:db8:1::/64"}]
    p = api.port(net["id"], allowed_address_pairs=pairs)
    assert p["allowed_address_pairs"] == [
        {"ip_address": "2001:db8:1::/64", "mac_address": p["mac_address"]}
    ]
    r = api.put(f"/v2.0/ports/{p['id']}", {"port": {"port_security_enabled": False}})
    assert r.status_code == 409 and error_of(r)["type"] == "AddressPairAndPortSecurityRequired"


def test_pool_exhaustion_and_concurrent_allocation_never_duplicates(api: Api) -> None:
    net = api.network()
    api.subnet(net["id"], "10.9.0.0/28")  # 13 addresses in the pool, one for the DHCP port
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda _: api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}), range(20)
            )
        )
    ok = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in results if r.status_code == 201]
    failed = [r for r in results if r.status_code != 201]
    assert len(ok) == 12 and len(set(ok)) == 12
    assert all(
        r.status_code == 409 and error_of(r)["type"] == "IpAddressGenerationFailure" for r in failed
    )


def test_bulk_create_is_all_or_nothing(api: Api) -> None:
    net = api.network()
    api.subnet(net["id"], "2001:db8:3::/64", ipv6_address_mode="dhcpv6-stateful")
    r = api.post("/v2.0/ports", {"ports": [{"network_id": net["id"]}, {"network_id": net["id"]}]})
    assert r.status_code == 201 and len(r.json()["ports"]) == 2
    r = api.post(
        "/v2.0/ports",
        {"ports": [{"network_id": net["id"]}, {"network_id": net["id"], "mac_address": "bad"}]},
    )
    assert r.status_code == 400
    assert len(api.user_ports()) == 2


def test_lists_read_each_ports_children_in_chunks(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fixed IPs, groups and pairs of a filtered or paged list are read in chunks of port ids
    (two here); each port shows what it shows alone, and in the whole list, in its order."""
    from v6fabric.services import ports as port_service

    monkeypatch.setattr(port_service, "CHILDREN_CHUNK", 2)
    net, *_ = _dual_stack(api)

    def group(name: str) -> str:
        r = api.post("/v2.0/security-groups", {"security_group": {"name": name}})
        return str(r.json()["security_group"]["id"])

    web, db = group("web"), group("db")
    pairs = [{"ip_address": "2001:db8:9::1"}, {"ip_address": "2001:db8:9::/64"}]
    bodies = [
        {
            "network_id": net["id"],
            "device_id": "vm",
            "security_groups": [web, db] if n % 2 else [db, web],
            "allowed_address_pairs": pairs if n % 3 else pairs[::-1],
        }
        for n in range(5)
    ]
    created = api.post("/v2.0/ports", {"ports": bodies}).json()["ports"]
    alone = {p["id"]: api.get(f"/v2.0/ports/{p['id']}").json()["port"] for p in created}
    assert list(alone.values()) == created
    assert all(len(p["fixed_ips"]) == 4 for p in created)
    whole = {p["id"]: p for p in api.user_ports()}
    filtered = api.user_ports("?device_id=vm")
    paged = api.user_ports("?device_id=vm&limit=3&sort_key=mac_address")
    for port in [*filtered, *paged]:
        assert port == alone[port["id"]] == whole[port["id"]]
    assert {p["id"] for p in filtered} == set(alone) and len(paged) == 3


def test_delete_network_with_ports_is_in_use(api: Api) -> None:
    net = api.network()
    port = api.port(net["id"])
    r = api.delete(f"/v2.0/networks/{net['id']}")
    assert r.status_code == 409
    assert error_of(r)["message"] == (
        f"Unable to complete operation on network {net['id']}. "
        "There are one or more ports still in use on the network."
    )
    assert api.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert api.delete(f"/v2.0/networks/{net['id']}").status_code == 204


def test_a_generated_mac_never_clashes_within_the_network(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clash of the 24 random bits is found before the insert and a new MAC drawn, so a bulk
    create never fails or redoes itself for it; 16 clashes in a row is Neutron's 503. The
    fabric's own ports (a router interface here) draw the same way."""
    from v6fabric.services import network_ports as ports_service

    net = api.post("/v2.0/networks", {"network": {"name": "macs"}}).json()["network"]
    subnet = api.subnet(net["id"], "2001:db8:7::/64")  # its DHCP port drawn before the patches
    router = api.post("/v2.0/routers", {"router": {"name": "macs"}}).json()["router"]
    first = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).json()["port"]
    draws = iter([first["mac_address"], first["mac_address"], "fa:16:3e:00:00:42"])
    monkeypatch.setattr(ports_service, "generate_mac", lambda: next(draws))
    second = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).json()["port"]
    assert second["mac_address"] == "fa:16:3e:00:00:42"
    draws = iter([first["mac_address"], "fa:16:3e:00:00:43"])
    monkeypatch.setattr(ports_service, "generate_mac", lambda: next(draws))
    body = {"subnet_id": subnet["id"]}
    added = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", body)
    assert added.status_code == 200, added.text
    interface = api.get(f"/v2.0/ports/{added.json()['port_id']}").json()["port"]
    assert interface["mac_address"] == "fa:16:3e:00:00:43"
    monkeypatch.setattr(ports_service, "generate_mac", lambda: first["mac_address"])
    response = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}})
    assert response.status_code == 503
    assert response.json()["NeutronError"]["type"] == "MacAddressGenerationFailure"
