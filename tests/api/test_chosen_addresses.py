"""R8 on the API side: a port with a chosen address on a SLAAC or DHCPv6-stateless subnet gets
exactly that address (and not its EUI-64 one), the host's anti-spoofing allows exactly the API's
addresses, and the metadata's network_data tells the guest to configure it statically."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import Api, assert_error
from tests.api.test_ports import _dual_stack
from v6fabric.hoststate.codec import decode

MAC = "fa:16:3e:12:34:56"
EUI64_SLAAC = "2001:db8:1:0:f816:3eff:fe12:3456"
EUI64_STATELESS = "2001:db8:2:0:f816:3eff:fe12:3456"


def _auto_subnets(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The SLAAC and stateless subnets of a network that also has IPv4 and stateful ones."""
    net, _v4, slaac, stateless, _stateful = _dual_stack(api)
    return net, slaac, stateless


def _ips(port: dict[str, Any]) -> dict[str, str]:
    """The port's IPv6 addresses on auto-address subnets, by subnet."""
    return {
        item["subnet_id"]: item["ip_address"]
        for item in port["fixed_ips"]
        if item["ip_address"].startswith(("2001:db8:1:", "2001:db8:2:"))
    }


def test_chosen_addresses_on_slaac_and_stateless_subnets_replace_the_eui64_ones(api: Api) -> None:
    net, slaac, stateless = _auto_subnets(api)
    chosen = [
        {"subnet_id": slaac["id"], "ip_address": "2001:db8:1::77"},
        {"ip_address": "2001:db8:2::77"},  # the subnet found from the address
    ]
    port = api.port(net["id"], mac_address=MAC, fixed_ips=chosen)
    assert _ips(port) == {slaac["id"]: "2001:db8:1::77", stateless["id"]: "2001:db8:2::77"}
    # one chosen, one left to EUI-64
    other = api.port(
        net["id"],
        mac_address="fa:16:3e:12:34:57",
        fixed_ips=[{"subnet_id": stateless["id"], "ip_address": "2001:db8:2::78"}],
    )
    assert _ips(other) == {
        slaac["id"]: "2001:db8:1:0:f816:3eff:fe12:3457",
        stateless["id"]: "2001:db8:2::78",
    }


def test_update_to_a_chosen_address_and_a_mac_change_keep_it(api: Api) -> None:
    net, slaac, stateless = _auto_subnets(api)
    port = api.port(net["id"], mac_address=MAC)
    assert _ips(port) == {slaac["id"]: EUI64_SLAAC, stateless["id"]: EUI64_STATELESS}
    body = {"fixed_ips": [{"subnet_id": slaac["id"], "ip_address": "2001:db8:1::99"}]}
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": body})
    assert r.status_code == 200, r.text
    assert _ips(r.json()["port"]) == {
        slaac["id"]: "2001:db8:1::99",
        stateless["id"]: EUI64_STATELESS,
    }
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"mac_address": "fa:16:3e:00:00:01"}})
    assert r.status_code == 200, r.text
    assert _ips(r.json()["port"]) == {
        slaac["id"]: "2001:db8:1::99",  # chosen: kept
        stateless["id"]: "2001:db8:2:0:f816:3eff:fe00:1",  # EUI-64: follows the MAC
    }


def test_invalid_chosen_addresses_are_neutrons_errors(api: Api) -> None:
    net, slaac, stateless = _auto_subnets(api)
    taken = api.port(
        net["id"], fixed_ips=[{"subnet_id": slaac["id"], "ip_address": "2001:db8:1::5"}]
    )

    def create(*fixed: dict[str, str]) -> Any:
        return api.post(
            "/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": list(fixed)}}
        )

    assert_error(
        create({"subnet_id": slaac["id"], "ip_address": "2001:db8:1::5"}),
        409,
        "IpAddressAlreadyAllocated",
        f"IP address 2001:db8:1::5 already allocated in subnet {slaac['id']}",
    )
    assert_error(
        create({"subnet_id": slaac["id"], "ip_address": "2001:db8:9::5"}),
        400,
        "InvalidIpForSubnet",
        "IP address 2001:db8:9::5 is not a valid IP for the specified subnet.",
    )
    assert_error(  # the subnet-router anycast address is for routers only
        create({"subnet_id": stateless["id"], "ip_address": "2001:db8:2::"}),
        400,
        "InvalidIpForSubnet",
    )
    assert_error(
        create({"ip_address": "2001:db8:9::5"}),
        400,
        "InvalidIpForNetwork",
        "IP address 2001:db8:9::5 is not a valid IP for any of the subnets on the specified "
        "network.",
    )
    assert_error(
        create(
            {"subnet_id": slaac["id"], "ip_address": "2001:db8:1::6"},
            {"subnet_id": slaac["id"], "ip_address": "2001:db8:1::6"},
        ),
        400,
        "InvalidInput",
    )
    assert [p["id"] for p in api.user_ports()] == [taken["id"]]


def test_anti_spoofing_and_network_data_follow_the_api_addresses(api: Api) -> None:
    r = api.put("/fabric/v1/hosts/h1", {"roles": ["compute", "network"]}, "admin")
    assert r.status_code == 200, r.text
    net, slaac, stateless = _auto_subnets(api)
    port = api.port(
        net["id"],
        mac_address=MAC,
        fixed_ips=[
            {"subnet_id": slaac["id"], "ip_address": "2001:db8:1::77"},
            {"subnet_id": stateless["id"], "ip_address": EUI64_STATELESS},
        ],
    )
    body = {"name": "vm1", "host": "h1", "port_ids": [port["id"]]}
    r = api.post("/fabric/v1/workloads", {"workload": body})
    assert r.status_code == 201, r.text
    state = decode(api.get("/fabric/v1/hosts/h1/state", "admin").content)

    (guarded,) = [p for p in state.firewall.ports if p.port_id == port["id"]]
    assert guarded.port_security
    assert {(a.cidr, a.mac) for a in guarded.allowed} == {
        ("2001:db8:1::77/128", MAC),
        (f"{EUI64_STATELESS}/128", MAC),
    }  # and not the SLAAC EUI-64 address the port would otherwise have had

    (served,) = [p for p in state.metadata.ports if p.port_id == port["id"]]
    assert EUI64_SLAAC not in served.addresses and "2001:db8:1::77" in served.addresses
    (instance,) = state.metadata.instances
    networks = json.loads(instance.network_data)["networks"]
    assert [(n["type"], n["ip_address"]) for n in networks] == [
        ("ipv6", "2001:db8:1::77"),
        ("ipv6_dhcpv6-stateless", EUI64_STATELESS),
    ]
    # the subnet's gateway_ip (the API's default: the subnet-router anycast address)
    assert networks[0]["routes"] == [{"network": "::", "netmask": "::", "gateway": "2001:db8:1::"}]
