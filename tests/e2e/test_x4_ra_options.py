"""X4: RA options beyond the minimum reach the workload: MTU, RDNSS (several servers) and
RFC 4191 route information from the subnet's host routes; DHCPv4 brings the MTU too.

The guest's NIC starts at the kernel's 1500, as a VM's does: a smaller network MTU can only
have come from the network.
"""

from __future__ import annotations

import ipaddress
import os

import pytest

from tests.e2e.lab import SLAAC, Lab
from v6fabric.drivers.commands import run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

MTU = 1400
DNS = ["2001:db8:ffff::53", "2001:db8:ffff::54"]


def _sysctl(namespace: str, key: str) -> str:
    return run(["cat", f"/proc/sys/{key.replace('.', '/')}"], netns=namespace).stdout.strip()


def _link_mtu(namespace: str, ifname: str) -> int:
    return int(run(["cat", f"/sys/class/net/{ifname}/mtu"], netns=namespace).stdout)


def test_ra_mtu_rdnss_and_route_information(clean: Lab) -> None:
    lab = clean
    net = lab.network(name="x4", mtu=MTU)
    subnet = lab.subnet(
        net,
        "2001:db8:44::/64",
        dns_nameservers=DNS,
        host_routes=[{"destination": "2001:db8:99::/64", "nexthop": "2001:db8:44::"}],
        **SLAAC,
    )
    lab.router(subnet)
    port = lab.port(net)
    vm = lab.workload("x4", port)
    lab.wait_active(port)
    wanted = {ipaddress.ip_address(ip["ip_address"]) for ip in port["fixed_ips"]}
    lab.wait_guest(
        vm,
        "its SLAAC address",
        lambda v: wanted <= {a.interface.ip for a in v.interfaces["eth0"].ipv6},
    )
    ns = vm["namespace"]
    # MTU option: the IPv6 MTU follows the RA while the link stays at the guest's default
    assert _link_mtu(ns, "eth0") == 1500
    assert int(_sysctl(ns, "net.ipv6.conf.eth0.mtu")) == MTU
    # route information option: a route to the host route's prefix via the router
    view = lab.wait_guest(
        vm,
        "the RFC 4191 route",
        lambda v: next(
            (
                r
                for r in v.interfaces["eth0"].routes
                if r.destination == ipaddress.ip_network("2001:db8:99::/64")
            ),
            None,
        ),
    )
    assert view.via is not None and view.via.is_link_local
    # RDNSS with both servers, in order
    lab.wait_guest(vm, "both DNS servers", lambda v: [str(n) for n in v.nameservers][:2] == DNS)


def test_dhcpv4_brings_the_network_mtu(clean: Lab) -> None:
    lab = clean
    net = lab.network(name="x4v4", mtu=MTU)
    subnet = lab.subnet(net, "10.44.0.0/24")
    lab.router(subnet)
    port = lab.port(net)
    vm = lab.workload("x4v4", port)
    lab.wait_active(port)
    (address,) = [ip["ip_address"] for ip in port["fixed_ips"]]
    lab.wait_guest(
        vm,
        f"DHCPv4 address {address}",
        lambda v: (
            ipaddress.ip_address(address) in {a.interface.ip for a in v.interfaces["eth0"].ipv4}
        ),
    )
    assert _link_mtu(vm["namespace"], "eth0") == MTU
