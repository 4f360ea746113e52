"""R5, R17, R18: more than one address per workload.

* R5: a dual-stack port (an IPv4 subnet served by DHCPv4 and a SLAAC IPv6 subnet on one network,
  one router) gets both addresses, both default routes, and reaches both gateways.
* R17: a network with two SLAAC IPv6 subnets behind one router port (one ``qr-`` interface with
  both gateway addresses): the workload forms both addresses, has both prefixes on-link and
  reaches both gateways.
* R18: a workload with three ports on three networks (SLAAC, DHCPv6-stateful, IPv4): each NIC
  holds exactly the addresses the API reports for its port.

Proof by what the workloads' kernels hold, learnt only from the network (RA, DHCPv6, DHCPv4).
"""

from __future__ import annotations

import ipaddress
import os

import pytest

from tests.e2e.conftest import eui64
from tests.e2e.lab import SLAAC, STATEFUL, Lab, usable

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")


def reported(port: dict, subnet: dict) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    (address,) = [
        ipaddress.ip_address(ip["ip_address"])
        for ip in port["fixed_ips"]
        if ip["subnet_id"] == subnet["id"]
    ]
    return address


def expected_interface(port: dict, subnet: dict):
    """The address with the prefix length the guest configures it with: the subnet's for
    SLAAC and DHCPv4, /128 for a DHCPv6 lease (on-link comes from the RA's prefix)."""
    address = reported(port, subnet)
    stateful = subnet.get("ipv6_address_mode") == "dhcpv6-stateful"
    prefixlen = 128 if stateful else ipaddress.ip_network(subnet["cidr"]).prefixlen
    return ipaddress.ip_interface(f"{address}/{prefixlen}")


def holding(ifname: str, wanted: set):
    """A probe: the NIC's global addresses past DAD once they include ``wanted``."""

    def probe(view):
        nic = view.interfaces.get(ifname)
        if nic is None:
            return None
        got = usable(nic.addresses)
        return got if got >= wanted else None

    return probe


def test_r05_dual_stack_port(clean: Lab) -> None:
    lab = clean
    net = lab.network(name="r5")
    v4 = lab.subnet(net, "10.55.0.0/24")  # enable_dhcp defaults to true
    v6 = lab.subnet(net, "2001:db8:5::/64", **SLAAC)
    lab.router(v4, v6, name="r5")
    port = lab.port(net)
    assert {ip["subnet_id"] for ip in port["fixed_ips"]} == {v4["id"], v6["id"]}
    v6_address = reported(port, v6)
    assert v6_address == eui64(v6["cidr"], port["mac_address"])  # the API says EUI-64
    wanted = {expected_interface(port, v4), expected_interface(port, v6)}
    vm = lab.workload("r5", port)
    lab.wait_active(port)

    got = lab.wait_guest(vm, f"both addresses {wanted}", holding("eth0", wanted))
    assert got == wanted
    lab.wait_guest(
        vm,
        "both default routes",
        lambda v: {r.via.version for r in v.interfaces["eth0"].default_routes} == {4, 6},
    )
    nic = lab.guest(vm).interfaces["eth0"]
    v4_default = [r for r in nic.default_routes if r.via.version == 4]
    v6_default = [r for r in nic.default_routes if r.via.version == 6]
    assert [r.via for r in v4_default] == [ipaddress.ip_address(v4["gateway_ip"])]
    (v6_route,) = v6_default
    assert v6_route.via.is_link_local  # from the router's RA
    assert ipaddress.ip_network(v4["cidr"]) in nic.onlink_prefixes
    assert ipaddress.ip_network(v6["cidr"]) in nic.onlink_prefixes
    assert nic.dhcpv6 is None  # SLAAC: M=0, O=0
    assert lab.ping(vm, v4["gateway_ip"])
    assert lab.ping(vm, v6["gateway_ip"])


def test_r17_two_ipv6_subnets_on_one_network(clean: Lab) -> None:
    lab = clean
    net = lab.network(name="r17")
    first = lab.subnet(net, "2001:db8:17:1::/64", **SLAAC)
    second = lab.subnet(net, "2001:db8:17:2::/64", **SLAAC)
    router = lab.router(first, second, name="r17")
    (qr,) = lab.call("GET", f"/v2.0/ports?device_id={router['id']}", expect=200)["ports"]
    assert {ip["ip_address"] for ip in qr["fixed_ips"]} == {
        first["gateway_ip"],
        second["gateway_ip"],
    }, "one router port carries both gateway addresses"

    port = lab.port(net)
    wanted = {expected_interface(port, first), expected_interface(port, second)}
    assert {w.ip for w in wanted} == {
        eui64(first["cidr"], port["mac_address"]),
        eui64(second["cidr"], port["mac_address"]),
    }
    vm = lab.workload("r17", port)
    lab.wait_active(port)

    got = lab.wait_guest(vm, f"both SLAAC addresses {wanted}", holding("eth0", wanted))
    assert got == wanted
    nic = lab.guest(vm).interfaces["eth0"]
    for subnet in (first, second):
        assert ipaddress.ip_network(subnet["cidr"]) in nic.onlink_prefixes
    (default,) = nic.default_routes
    assert default.via.is_link_local
    assert lab.ping(vm, first["gateway_ip"])
    assert lab.ping(vm, second["gateway_ip"])


def test_r18_workload_on_three_networks(clean: Lab) -> None:
    lab = clean
    slaac_net = lab.network(name="r18-slaac")
    slaac = lab.subnet(slaac_net, "2001:db8:18:1::/64", **SLAAC)
    stateful_net = lab.network(name="r18-stateful")
    stateful = lab.subnet(stateful_net, "2001:db8:18:2::/64", **STATEFUL)
    v4_net = lab.network(name="r18-v4")
    v4 = lab.subnet(v4_net, "10.18.0.0/24")
    lab.router(slaac, stateful, v4, name="r18")
    ports = [lab.port(slaac_net), lab.port(stateful_net), lab.port(v4_net)]
    subnets = [slaac, stateful, v4]
    vm = lab.workload("r18", *ports)
    lab.wait_active(*ports)

    for index, (port, subnet) in enumerate(zip(ports, subnets, strict=True)):
        ifname = f"eth{index}"
        wanted = {expected_interface(port, subnet)}
        got = lab.wait_guest(vm, f"{ifname}: {wanted}", holding(ifname, wanted))
        assert got == wanted, (ifname, got)
    view = lab.guest(vm)
    assert sorted(view.interfaces) == ["eth0", "eth1", "eth2"]
    for index, port in enumerate(ports):
        assert view.interfaces[f"eth{index}"].mac == port["mac_address"]
    assert view.interfaces["eth0"].dhcpv6 is None
    assert view.interfaces["eth1"].dhcpv6 == "stateful"
    # One more look after every NIC converged: still exactly the API's addresses, nothing else
    # (no SLAAC address on the stateful network, no IPv4 on the IPv6-only ones).
    for index, (port, subnet) in enumerate(zip(ports, subnets, strict=True)):
        nic = view.interfaces[f"eth{index}"]
        assert usable(nic.addresses) == {expected_interface(port, subnet)}, nic.ifname
        assert lab.ping(vm, subnet["gateway_ip"]), nic.ifname
