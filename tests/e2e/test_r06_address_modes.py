"""R6: for every valid ra_mode x address_mode pair (and none), the address the API reports is
the address the workload configures, with the routes and DNS servers the subnet names.

Proof by what the workload's kernel actually holds, learnt only from the network (RA, DHCPv6).
"""

from __future__ import annotations

import ipaddress
import os
import time

import pytest

from tests.e2e.lab import Lab, usable

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

DNS = "2001:db8:ffff::53"
# (ra_mode, address_mode): Neutron's 9 valid combinations plus "no modes".
COMBINATIONS = [
    ("slaac", "slaac"),
    ("slaac", None),
    ("dhcpv6-stateless", "dhcpv6-stateless"),
    ("dhcpv6-stateless", None),
    ("dhcpv6-stateful", "dhcpv6-stateful"),
    ("dhcpv6-stateful", None),
    (None, "slaac"),
    (None, "dhcpv6-stateless"),
    (None, "dhcpv6-stateful"),
    (None, None),
]


@pytest.mark.parametrize(("ra_mode", "address_mode"), COMBINATIONS)
def test_workload_configures_what_the_api_reports(
    clean: Lab, ra_mode: str | None, address_mode: str | None
) -> None:
    lab = clean
    cidr = "2001:db8:6::/64"
    net = lab.network(name="r6")
    modes = {k: v for k, v in (("ipv6_ra_mode", ra_mode), ("ipv6_address_mode", address_mode)) if v}
    subnet = lab.subnet(net, cidr, dns_nameservers=[DNS], **modes)
    if ra_mode:  # a router sends the RAs (Neutron refuses routers for address-mode-only subnets)
        lab.router(subnet, name="r6")
    port = lab.port(net)
    vm = lab.workload("vm", port)
    lab.wait_active(port)
    reported = {ipaddress.ip_address(ip["ip_address"]) for ip in port["fixed_ips"]}
    prefix = ipaddress.ip_network(cidr)

    def eth0(view):
        return view.interfaces.get("eth0")

    if ra_mode is None:
        # No RA at all: a guest configures nothing global (an external router is expected).
        lab.wait_guest(vm, "link up", lambda v: eth0(v) and eth0(v).up and eth0(v).link_local)
        time.sleep(3)  # long enough for an RS to be answered, had anyone been advertising
        view = lab.guest(vm)
        assert [a for a in eth0(view).ipv6 if a.interface.ip in prefix] == []
        assert eth0(view).default_routes == ()
        return

    def configured(view):
        nic = eth0(view)
        if nic is None:
            return None
        got = {i.ip for i in usable(nic.ipv6) if i.ip in prefix}
        return got if got >= reported else None

    got = lab.wait_guest(vm, f"the address the API reports {reported}", configured)
    assert got == reported
    view = lab.guest(vm)
    nic = view.interfaces["eth0"]
    (default,) = nic.default_routes
    assert default.via is not None and default.via.is_link_local
    assert prefix in nic.onlink_prefixes
    lab.wait_guest(vm, f"DNS server {DNS}", lambda v: ipaddress.ip_address(DNS) in v.nameservers)
    assert lab.ping(vm, subnet["gateway_ip"]) or lab.ping(vm, str(default.via) + "%eth0")
