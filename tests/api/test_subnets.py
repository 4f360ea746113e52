"""Subnets through the API: the IPv6 mode matrix, CIDR rules, pools and Neutron's error texts."""

from __future__ import annotations

import itertools

import pytest

from tests.api.conftest import Api, error_of

MODES = [None, "slaac", "dhcpv6-stateful", "dhcpv6-stateless"]


@pytest.mark.parametrize(("ra", "addr"), list(itertools.product(MODES, MODES)))
def test_ipv6_mode_matrix(api: Api, ra: str | None, addr: str | None) -> None:
    net = api.network(name="n")
    body = {"network_id": net["id"], "ip_version": 6, "cidr": "2001:db8:1::/64"}
    if ra:
        body["ipv6_ra_mode"] = ra
    if addr:
        body["ipv6_address_mode"] = addr
    r = api.post("/v2.0/subnets", {"subnet": body})
    if ra and addr and ra != addr:
        assert r.status_code == 400
        err = error_of(r)
        assert err["type"] == "InvalidInput"
        assert err["message"] == (
            f"Invalid input for operation: ipv6_ra_mode set to '{ra}' with ipv6_address_mode "
            f"set to '{addr}' is not valid. If both attributes are set, they must be the same value."
        )
        assert api.get("/v2.0/subnets").json()["subnets"] == []
    else:
        assert r.status_code == 201, r.text
        subnet = r.json()["subnet"]
        assert subnet["ipv6_ra_mode"] == ra and subnet["ipv6_address_mode"] == addr


def test_default_gateway_and_pools_follow_neutron(api: Api) -> None:
    net = api.network()
    v6 = api.subnet(net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    assert v6["gateway_ip"] == "2001:db8:1::"
    assert v6["allocation_pools"] == [
        {"start": "2001:db8:1::1", "end": "2001:db8:1:0:ffff:ffff:ffff:ffff"}
    ]
    v4 = api.subnet(net["id"], "10.0.0.0/24")
    assert v4["gateway_ip"] == "10.0.0.1"
    assert v4["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"cidr": "2001:db8::/80", "ipv6_ra_mode": "slaac"},
            "Invalid input for operation: Invalid CIDR 2001:db8::/80 for IPv6 address mode. OpenStack "
            "uses the EUI-64 address format, which requires the prefix to be /64.",
        ),
        ({"cidr": "::/0"}, "Invalid input for operation: IPv6 subnet '::' is not supported."),
        (
            {"cidr": "2001:db8::1/128"},
            "Invalid input for operation: Subnet has a prefix length that is incompatible with DHCP "
            "service enabled.",
        ),
        (
            {"cidr": "2001:db8::/64", "ipv6_ra_mode": "slaac", "enable_dhcp": False},
            "Invalid input for operation: ipv6_ra_mode or ipv6_address_mode cannot be set when "
            "enable_dhcp is set to False.",
        ),
        (
            {"cidr": "10.0.0.0/24", "ip_version": 4, "ipv6_address_mode": "slaac"},
            "Invalid input for operation: ipv6_address_mode is not valid when ip_version is 4.",
        ),
    ],
)
def test_invalid_subnets_are_refused_and_change_nothing(api: Api, body: dict, message: str) -> None:
    net = api.network()
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 6, **body}})
    assert r.status_code == 400, r.text
    assert error_of(r)["message"] == message
    assert api.get("/v2.0/subnets").json()["subnets"] == []


def test_overlapping_subnets_refused_in_one_network_but_not_across(api: Api) -> None:
    net = api.network()
    api.subnet(net["id"], "2001:db8:1::/64")
    for cidr in ("2001:db8:1::/64", "2001:db8:1::/48", "2001:db8:1::/65"):
        r = api.post(
            "/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 6, "cidr": cidr}}
        )
        assert r.status_code == 400, (cidr, r.text)
        assert error_of(r)["message"].endswith("overlaps with another subnet.")
    other = api.network()
    api.subnet(other["id"], "2001:db8:1::/64")


def test_host_bits_are_normalised(api: Api) -> None:
    net = api.network()
    assert api.subnet(net["id"], "2001:db8:1::5/64")["cidr"] == "2001:db8:1::/64"


def test_modes_are_create_only(api: Api) -> None:
    net = api.network()
    s = api.subnet(net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac")
    r = api.put(f"/v2.0/subnets/{s['id']}", {"subnet": {"ipv6_ra_mode": "dhcpv6-stateful"}})
    assert r.status_code == 400
    assert api.get(f"/v2.0/subnets/{s['id']}").json()["subnet"]["ipv6_ra_mode"] == "slaac"


def test_update_dns_routes_and_pools(api: Api) -> None:
    net = api.network()
    s = api.subnet(net["id"], "2001:db8:1::/64", ipv6_address_mode="dhcpv6-stateful")
    r = api.put(
        f"/v2.0/subnets/{s['id']}",
        {
            "subnet": {
                "dns_nameservers": ["2001:db8::53", "2001:db8::54"],
                "host_routes": [{"destination": "2001:db8:99::/64", "nexthop": "2001:db8:1::9"}],
                "allocation_pools": [{"start": "2001:db8:1::100", "end": "2001:db8:1::1ff"}],
            }
        },
    )
    assert r.status_code == 200, r.text
    s2 = r.json()["subnet"]
    assert s2["dns_nameservers"] == ["2001:db8::53", "2001:db8::54"]
    assert s2["revision_number"] == s["revision_number"] + 1
    port = api.port(net["id"])
    ip = port["fixed_ips"][0]["ip_address"]
    assert ip.startswith("2001:db8:1::1")


def test_subnetpool_allocation(api: Api) -> None:
    pool = api.create("subnetpool", name="p", prefixes=["2001:db8:100::/56"], default_prefixlen=64)
    net = api.network()
    a = api.create("subnet", network_id=net["id"], ip_version=6, subnetpool_id=pool["id"])
    b = api.create("subnet", network_id=api.network()["id"], ip_version=6, subnetpool_id=pool["id"])
    assert a["cidr"] == "2001:db8:100::/64" and b["cidr"] == "2001:db8:100:1::/64"
    c = api.create(
        "subnet",
        network_id=api.network()["id"],
        ip_version=6,
        subnetpool_id=pool["id"],
        prefixlen=60,
    )
    assert c["cidr"] == "2001:db8:100:10::/60"
    r = api.delete(f"/v2.0/subnetpools/{pool['id']}")
    assert r.status_code == 409


def test_default_subnetpool(api: Api) -> None:
    r = api.post(
        "/v2.0/subnetpools",
        {"subnetpool": {"name": "d", "prefixes": ["2001:db8:200::/48"], "is_default": True}},
    )
    assert r.status_code == 403
    api.create(
        "subnetpool",
        user="admin",
        name="d",
        prefixes=["2001:db8:200::/48"],
        is_default=True,
        shared=True,
        default_prefixlen=64,
    )
    net = api.network()
    s = api.create("subnet", network_id=net["id"], ip_version=6, use_default_subnetpool=True)
    assert s["cidr"] == "2001:db8:200::/64"


def test_delete_subnet_in_use(api: Api) -> None:
    net = api.network()
    stateful = api.subnet(net["id"], "2001:db8:2::/64", ipv6_address_mode="dhcpv6-stateful")
    slaac = api.subnet(net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac")
    port = api.port(net["id"])
    assert len(port["fixed_ips"]) == 2
    r = api.delete(f"/v2.0/subnets/{stateful['id']}")
    assert r.status_code == 409 and error_of(r)["type"] == "SubnetInUse"
    assert api.delete(f"/v2.0/subnets/{slaac['id']}").status_code == 204
    ips = api.get(f"/v2.0/ports/{port['id']}").json()["port"]["fixed_ips"]
    assert [i["subnet_id"] for i in ips] == [stateful["id"]]
