"""R7: a port created with a chosen address on a DHCPv6-stateful subnet receives exactly that
address over DHCPv6, and no port created after it is ever given it (neither by the API nor on
the wire). A chosen address outside the allocation pool (but in the CIDR) is delivered too.

Proof by what the workloads' kernels hold, learnt only from the network (RA M=1, DHCPv6).
"""

from __future__ import annotations

import os
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

import pytest

from tests.e2e.lab import STATEFUL, Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

OTHER_PORTS = 20


def stateful_subnet(lab: Lab, name: str, cidr: str, pool: tuple[str, str]) -> dict:
    """A DHCPv6-stateful subnet with a small allocation pool, behind a router (the RAs)."""
    net = lab.network(name=name)
    subnet = lab.subnet(
        net, cidr, allocation_pools=[{"start": pool[0], "end": pool[1]}], **STATEFUL
    )
    lab.router(subnet, name=name)
    return subnet


def api_addresses(port: dict, subnet: dict) -> set[IPv6Address]:
    return {
        IPv6Address(ip["ip_address"]) for ip in port["fixed_ips"] if ip["subnet_id"] == subnet["id"]
    }


def leased(lab: Lab, vm: dict, prefix: IPv6Network, wanted: IPv6Address) -> set[IPv6Interface]:
    """Wait until eth0 holds ``wanted`` and DHCPv6 runs stateful; return every global IPv6
    address of eth0 in ``prefix`` (with its prefix length)."""

    def probe(view):
        nic = view.interfaces.get("eth0")
        if nic is None or nic.dhcpv6 != "stateful":
            return None
        got = {a.interface for a in nic.ipv6 if a.interface.ip in prefix}
        return got if wanted in {i.ip for i in got} else None

    return lab.wait_guest(vm, f"{wanted} over DHCPv6", probe)


def test_chosen_address_in_the_pool_is_leased_and_never_given_again(clean: Lab) -> None:
    lab = clean
    cidr = "2001:db8:7:1::/64"
    prefix = IPv6Network(cidr)
    pool = ("2001:db8:7:1::100", "2001:db8:7:1::13f")
    pool_range = (IPv6Address(pool[0]), IPv6Address(pool[1]))
    subnet = stateful_subnet(lab, "r7-pool", cidr, pool)
    net = {"id": subnet["network_id"]}
    # ::123, unless the network's DHCP port drew it from the pool (1 in 64)
    ports = lab.call("GET", f"/v2.0/ports?network_id={net['id']}")["ports"]
    held = set().union(*(api_addresses(p, subnet) for p in ports))
    chosen = next(
        a for a in map(IPv6Address, range(int(pool_range[0]) + 0x23, 1 << 128)) if a not in held
    )

    port = lab.port(net, fixed_ips=[{"subnet_id": subnet["id"], "ip_address": str(chosen)}])
    assert api_addresses(port, subnet) == {chosen}
    vm = lab.workload("r7-chosen", port)

    # 20 more ports, created after the chosen one: the API never hands it out again.
    others = [lab.port(net, name=f"r7-other-{i}") for i in range(OTHER_PORTS)]
    given = [api_addresses(other, subnet) for other in others]
    assert all(len(addresses) == 1 for addresses in given), given
    given_flat = [address for addresses in given for address in addresses]
    assert chosen not in given_flat
    assert len(set(given_flat)) == OTHER_PORTS  # all distinct
    assert all(pool_range[0] <= a <= pool_range[1] for a in given_flat), given_flat

    # Two of them plugged in (while the chosen one is still acquiring its lease).
    plugged = [others[0], others[-1]]
    vms = [lab.workload(f"r7-other-{i}", p) for i, p in enumerate(plugged)]
    lab.wait_active(port, *plugged)

    got = leased(lab, vm, prefix, chosen)
    assert got == {IPv6Interface(f"{chosen}/128")}, "exactly the chosen address, as a /128"
    for other_vm, other_port in zip(vms, plugged, strict=True):
        (own,) = api_addresses(other_port, subnet)
        got = leased(lab, other_vm, prefix, own)
        assert got == {IPv6Interface(f"{own}/128")}, (other_vm["name"], got)
        assert chosen not in {i.ip for i in got}

    # The lease holder keeps its address; the RA told every guest M=1, so the prefix is
    # on-link and the gateway is reachable from the chosen address.
    view = lab.guest(vm)
    nic = view.interfaces["eth0"]
    assert nic.ra_managed is True
    assert {a.interface for a in nic.ipv6 if a.interface.ip in prefix} == {
        IPv6Interface(f"{chosen}/128")
    }
    assert prefix in nic.onlink_prefixes
    assert lab.ping(vm, subnet["gateway_ip"])


def test_chosen_address_outside_the_pool_is_delivered(clean: Lab) -> None:
    lab = clean
    cidr = "2001:db8:7:2::/64"
    prefix = IPv6Network(cidr)
    chosen = IPv6Address("2001:db8:7:2::42")  # in the CIDR, outside the pool
    pool = ("2001:db8:7:2::100", "2001:db8:7:2::13f")
    assert not IPv6Address(pool[0]) <= chosen <= IPv6Address(pool[1])
    subnet = stateful_subnet(lab, "r7-outside", cidr, pool)
    net = {"id": subnet["network_id"]}

    port = lab.port(net, fixed_ips=[{"subnet_id": subnet["id"], "ip_address": str(chosen)}])
    assert api_addresses(port, subnet) == {chosen}
    vm = lab.workload("r7-outside", port)
    lab.wait_active(port)

    got = leased(lab, vm, prefix, chosen)
    assert got == {IPv6Interface(f"{chosen}/128")}
    assert lab.guest(vm).interfaces["eth0"].dhcpv6 == "stateful"
    assert lab.ping(vm, subnet["gateway_ip"])
