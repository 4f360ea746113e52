"""R2: switching and east/west routing, proven by traffic between workloads.

* One IPv6-only SLAAC network (its RAs come from the network's own ``v6d-`` namespace: no
  router): two workloads ping each other and exchange TCP at the addresses the API reports,
  and the replies arrive with hop limit 64 (nothing routed them).
* Two networks joined by one router: the same both ways, with hop limit 63 (exactly one
  router decremented it) and the server seeing the client's own address (routed, not NATed).
* Negative control: two networks each with its own router but not joined: no ping, no TCP,
  not even link-local (the bridges are separate).
"""

from __future__ import annotations

import ipaddress
import os

import pytest

from tests.e2e.lab import SLAAC, Lab, fixed_ip
from tests.e2e.probes import tcp_echo
from tests.e2e.traffic import ping_stats

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

HOP_LIMIT = 64  # a fresh namespace's net.ipv6.conf.*.hop_limit


def test_two_workloads_on_one_network_reach_each_other(clean: Lab) -> None:
    lab = clean
    net = lab.network(name="r2-l2")
    lab.subnet(net, "2001:db8:20::/64", **SLAAC)  # no router: RAs from the v6d- namespace
    port_a, port_b = lab.port(net), lab.port(net)
    vm_a, vm_b = lab.workload("a", port_a), lab.workload("b", port_b)
    lab.wait_active(port_a, port_b)
    addr_a, addr_b = fixed_ip(port_a), fixed_ip(port_b)
    lab.wait_addresses(vm_a, addr_a)
    lab.wait_addresses(vm_b, addr_b)

    a_to_b = ping_stats(vm_a["namespace"], addr_b)
    b_to_a = ping_stats(vm_b["namespace"], addr_a)
    assert a_to_b.received == a_to_b.sent == 3, a_to_b.output
    assert b_to_a.received == b_to_a.sent == 3, b_to_a.output
    assert set(a_to_b.hop_limits) == set(b_to_a.hop_limits) == {HOP_LIMIT}  # switched only

    echo = tcp_echo(vm_b["namespace"], "::", vm_a["namespace"], addr_b, "hello over L2")
    assert echo.reply == "echo:hello over L2", echo
    assert echo.peers == (ipaddress.ip_address(addr_a),)
    echo = tcp_echo(vm_a["namespace"], "::", vm_b["namespace"], addr_a, "and back")
    assert echo.reply == "echo:and back", echo
    assert echo.peers == (ipaddress.ip_address(addr_b),)


def test_a_router_joins_two_networks(clean: Lab) -> None:
    lab = clean
    net_a, net_b = lab.network(name="r2-a"), lab.network(name="r2-b")
    sub_a = lab.subnet(net_a, "2001:db8:21::/64", **SLAAC)
    sub_b = lab.subnet(net_b, "2001:db8:22::/64", **SLAAC)
    lab.router(sub_a, sub_b, name="r2")
    port_a, port_b = lab.port(net_a), lab.port(net_b)
    vm_a, vm_b = lab.workload("a", port_a), lab.workload("b", port_b)
    lab.wait_active(port_a, port_b)
    addr_a, addr_b = fixed_ip(port_a), fixed_ip(port_b)
    lab.wait_addresses(vm_a, addr_a, default_route=True)
    lab.wait_addresses(vm_b, addr_b, default_route=True)

    a_to_b = ping_stats(vm_a["namespace"], addr_b)
    b_to_a = ping_stats(vm_b["namespace"], addr_a)
    assert a_to_b.received == a_to_b.sent == 3, a_to_b.output
    assert b_to_a.received == b_to_a.sent == 3, b_to_a.output
    # Exactly one hop: the router decremented the replies' hop limit once.
    assert set(a_to_b.hop_limits) == set(b_to_a.hop_limits) == {HOP_LIMIT - 1}

    echo = tcp_echo(vm_b["namespace"], "::", vm_a["namespace"], addr_b, "east to west")
    assert echo.reply == "echo:east to west", echo
    assert echo.peers == (ipaddress.ip_address(addr_a),)  # routed, no NAT
    echo = tcp_echo(vm_a["namespace"], "::", vm_b["namespace"], addr_a, "west to east")
    assert echo.reply == "echo:west to east", echo
    assert echo.peers == (ipaddress.ip_address(addr_b),)


def test_networks_not_joined_by_a_router_cannot_reach_each_other(clean: Lab) -> None:
    lab = clean
    net_a, net_b = lab.network(name="r2-iso-a"), lab.network(name="r2-iso-b")
    sub_a = lab.subnet(net_a, "2001:db8:23::/64", **SLAAC)
    sub_b = lab.subnet(net_b, "2001:db8:24::/64", **SLAAC)
    # Each network has a router (so each guest has a default route and sends off-link
    # traffic somewhere), but no router has both.
    lab.router(sub_a, name="r2-iso-a")
    lab.router(sub_b, name="r2-iso-b")
    port_a, port_b = lab.port(net_a), lab.port(net_b)
    vm_a, vm_b = lab.workload("a", port_a), lab.workload("b", port_b)
    lab.wait_active(port_a, port_b)
    addr_a, addr_b = fixed_ip(port_a), fixed_ip(port_b)
    lab.wait_addresses(vm_a, addr_a, default_route=True)
    lab.wait_addresses(vm_b, addr_b, default_route=True)

    # Positive controls first: each reaches its own gateway.
    assert ping_stats(vm_a["namespace"], sub_a["gateway_ip"], count=1).received == 1
    assert ping_stats(vm_b["namespace"], sub_b["gateway_ip"], count=1).received == 1

    a_to_b = ping_stats(vm_a["namespace"], addr_b, count=3)
    b_to_a = ping_stats(vm_b["namespace"], addr_a, count=3)
    assert a_to_b.received == 0, a_to_b.output
    assert b_to_a.received == 0, b_to_a.output
    echo = tcp_echo(vm_b["namespace"], "::", vm_a["namespace"], addr_b, "x", timeout=2)
    assert echo.reply == "" and echo.peers == (), echo

    # Nor on layer 2: B's link-local address is not reachable from A's link.
    (b_link_local,) = lab.guest(vm_b).interfaces["eth0"].link_local
    lost = ping_stats(vm_a["namespace"], f"{b_link_local.address}%eth0", count=2)
    assert lost.received == 0, lost.output
