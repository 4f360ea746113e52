"""Each network with a DHCP-enabled subnet has one DHCP port with an address on each of them."""

from __future__ import annotations

from tests.api.conftest import Api

DHCP = "network:dhcp"


def _dhcp_ports(api: Api, network_id: str) -> list[dict]:
    return api.get(f"/v2.0/ports?network_id={network_id}&device_owner={DHCP}").json()["ports"]


def test_dhcp_port_follows_the_dhcp_subnets(api: Api) -> None:
    net = api.network()
    assert _dhcp_ports(api, net["id"]) == []
    slaac = api.subnet(
        net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    v4 = api.subnet(net["id"], "10.0.0.0/24")
    (port,) = _dhcp_ports(api, net["id"])
    assert {ip["subnet_id"] for ip in port["fixed_ips"]} == {slaac["id"], v4["id"]}
    # a subnet without DHCP gets no address on it; turning DHCP off removes it
    api.subnet(net["id"], "10.1.0.0/24", enable_dhcp=False)
    r = api.put(f"/v2.0/subnets/{v4['id']}", {"subnet": {"enable_dhcp": False}})
    assert r.status_code == 200
    (port,) = _dhcp_ports(api, net["id"])
    assert [ip["subnet_id"] for ip in port["fixed_ips"]] == [slaac["id"]]
    # the DHCP port's address never blocks deleting its subnet; the last one takes the port away
    assert api.delete(f"/v2.0/subnets/{v4['id']}").status_code == 204
    assert api.delete(f"/v2.0/subnets/{slaac['id']}").status_code == 204
    assert _dhcp_ports(api, net["id"]) == []
    assert api.delete(f"/v2.0/networks/{net['id']}").status_code == 204


def test_stateful_dhcp_port_takes_a_pool_address(api: Api) -> None:
    net = api.network()
    s = api.subnet(
        net["id"],
        "2001:db8:3::/64",
        ipv6_address_mode="dhcpv6-stateful",
        ipv6_ra_mode="dhcpv6-stateful",
    )
    (port,) = _dhcp_ports(api, net["id"])
    (ip,) = port["fixed_ips"]
    assert ip["subnet_id"] == s["id"] and ip["ip_address"] != s["gateway_ip"]
    assert port["project_id"] == net["project_id"]
    # a network with a DHCP port and no other port can be deleted
    assert api.delete(f"/v2.0/networks/{net['id']}").status_code == 204
