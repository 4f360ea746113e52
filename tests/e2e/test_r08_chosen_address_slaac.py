"""R8: a port with a chosen address on a SLAAC or DHCPv6-stateless subnet (Neutron Kilo refused
it). The EUI-64 case arrives by SLAAC; any other chosen address arrives as a static address in
network_data.json, which the workload's cloud-init-like step applies: the workload configures
it, reaches its peer with it as the source, keeps the RA's default route, and the EUI-64
address it would otherwise have is neither configured nor allowed by anti-spoofing.

Proof by the workload's kernel (addresses, routes) and by traffic.
"""

from __future__ import annotations

import os
from ipaddress import IPv6Address, IPv6Network

import pytest

from tests.e2e.conftest import eui64
from tests.e2e.lab import SLAAC, Lab, default_routers
from tests.e2e.traffic import pings
from v6fabric.drivers.commands import run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

STATELESS = {"ipv6_ra_mode": "dhcpv6-stateless", "ipv6_address_mode": "dhcpv6-stateless"}
MODES = {"slaac": SLAAC, "dhcpv6-stateless": STATELESS}


def global_addresses(lab: Lab, workload: dict, prefix: str) -> set[IPv6Address]:
    nic = lab.guest(workload).interfaces.get("eth0")
    if nic is None:
        return set()
    return {a.interface.ip for a in nic.addresses if a.interface.ip in IPv6Network(prefix)}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_chosen_address_replaces_the_slaac_one(clean: Lab, mode: str) -> None:
    lab = clean
    index = sorted(MODES).index(mode) + 1
    prefix = f"2001:db8:8:{index}::/64"
    net = lab.network(name=f"r8-{mode}")
    subnet = lab.subnet(net, prefix, **MODES[mode])
    lab.router(subnet, name=f"r8-{mode}")
    chosen = IPv6Address(f"2001:db8:8:{index}::77")
    port = lab.port(net, fixed_ips=[{"subnet_id": subnet["id"], "ip_address": str(chosen)}])
    assert [ip["ip_address"] for ip in port["fixed_ips"]] == [str(chosen)]
    by_eui64 = eui64(prefix, port["mac_address"])
    peer_port = lab.port(net)  # an ordinary port: its EUI-64 address by SLAAC
    vm = lab.workload(f"r8-{mode}-chosen", port)
    peer = lab.workload(f"r8-{mode}-peer", peer_port)
    peer_address = peer_port["fixed_ips"][0]["ip_address"]
    lab.wait_active(port, peer_port)
    lab.wait_addresses(peer, peer_address, default_route=True)

    # The chosen address, configured from network_data.json; the EUI-64 one gone for good.
    lab.wait_addresses(vm, chosen, default_route=True, timeout=45)
    lab.wait_guest(
        vm,
        "only the chosen address in the prefix",
        lambda _view: global_addresses(lab, vm, prefix) == {chosen} or None,
        timeout=20,
    )
    nic = lab.guest(vm).interfaces["eth0"]
    assert default_routers(nic), "the RA's default route is kept"
    assert pings(vm["namespace"], peer_address, 3, source=str(chosen))

    # Anti-spoofing allows exactly the API's address: the EUI-64 one, put back by hand, is
    # dropped (the chosen one still passes, so the path itself works).
    run(["ip", "addr", "add", f"{by_eui64}/64", "dev", "eth0", "nodad"], netns=vm["namespace"])
    assert not pings(vm["namespace"], peer_address, 3, source=str(by_eui64))
    assert pings(vm["namespace"], peer_address, 1, source=str(chosen))


def test_the_eui64_address_chosen_arrives_by_slaac(clean: Lab) -> None:
    lab = clean
    prefix = "2001:db8:8:9::/64"
    net = lab.network(name="r8-eui64")
    subnet = lab.subnet(net, prefix, **SLAAC)
    lab.router(subnet, name="r8-eui64")
    mac = "fa:16:3e:08:09:01"
    wanted = eui64(prefix, mac)
    port = lab.port(
        net,
        mac_address=mac,
        fixed_ips=[{"subnet_id": subnet["id"], "ip_address": str(wanted)}],
    )
    vm = lab.workload("r8-eui64", port)
    lab.wait_active(port)
    lab.wait_addresses(vm, wanted, default_route=True)
    nic = lab.guest(vm).interfaces["eth0"]
    (slaac,) = [a for a in nic.addresses if a.interface.ip == wanted]
    assert "dynamic" in slaac.flags or "mngtmpaddr" in slaac.flags  # formed by the kernel
