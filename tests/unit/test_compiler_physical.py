"""``compiler.physical``: a flat network's bridge takes the host's interface on its physical
network; other networks and hosts without the mapping are left as they were."""

from __future__ import annotations

from tests.unit.test_compiler import (
    COMPUTE,
    NET_HOST,
    OTHER,
    dhcp_port,
    network,
    port,
    snapshot,
    subnet,
    workload,
)
from v6fabric.compiler import compile_host


def flat(number: int, physnet: str) -> dict:
    return {
        **network(number),
        "provider:network_type": "flat",
        "provider:physical_network": physnet,
        "provider:segmentation_id": None,
    }


FLAT = flat(1, "physnet1")
ELSEWHERE = flat(2, "physnet2")
VX = network(3)
S1 = subnet(1, FLAT, "2001:db8:3::/64", addr="slaac", gateway_ip="fe80::1")
S2 = subnet(2, ELSEWHERE, "2001:db8:4::/64", addr="slaac")
S3 = subnet(3, VX, "2001:db8:5::/64")
A1 = port(20, FLAT, (S1, "2001:db8:3::20"))
A2 = port(21, ELSEWHERE, (S2, "2001:db8:4::21"))
A3 = port(22, VX, (S3, "2001:db8:5::22"))
B1 = port(23, FLAT, (S1, "2001:db8:3::23"), host=OTHER)
NS = dhcp_port(24, VX, (S3, "2001:db8:5::2"))
MAPPINGS = [
    (COMPUTE, "physnet1", "eth1"),
    (COMPUTE, "physnet9", "eth9"),
    (OTHER, "physnet1", "ens4"),
    (NET_HOST, "physnet2", "eth2"),
]


def world(mappings: list[tuple[str, str, str]] = MAPPINGS) -> object:
    return snapshot(
        networks=[FLAT, ELSEWHERE, VX],
        subnets=[S1, S2, S3],
        ports=[A1, A2, A3, B1, NS],
        workloads=[workload(1, A1, A2, A3), workload(2, B1, host=OTHER)],
        tunnel_endpoints={COMPUTE: "fd00:99::2", OTHER: "fd00:99::3", NET_HOST: "fd00:99::1"},
        physical_interfaces=mappings,
    )


def _interfaces(host: str, mappings: list[tuple[str, str, str]] = MAPPINGS) -> dict:
    state = compile_host(world(mappings), host)
    return {spec.network_id: spec.physical_interface for spec in state.networks}


def test_each_host_puts_its_own_interface_of_the_physical_network_on_the_bridge():
    assert _interfaces(COMPUTE) == {
        FLAT["id"]: "eth1",
        ELSEWHERE["id"]: None,  # physnet2: not mapped on this host
        VX["id"]: None,  # an overlay: no physical interface
    }
    assert _interfaces(OTHER) == {FLAT["id"]: "ens4"}


def test_the_network_host_gets_nothing_for_a_network_it_has_no_port_of():
    assert _interfaces(NET_HOST) == {VX["id"]: None}  # physnet2's network is not there


def test_without_mappings_the_bridge_stands_alone_and_a_flat_network_has_no_overlay():
    assert _interfaces(COMPUTE, []) == {FLAT["id"]: None, ELSEWHERE["id"]: None, VX["id"]: None}
    state = compile_host(world(), COMPUTE)
    flat = next(spec for spec in state.networks if spec.network_id == FLAT["id"])
    assert flat.overlay is None
    assert not any(entry.mac == B1["mac_address"] for entry in state.fdb)


def test_the_order_of_the_mappings_does_not_matter():
    assert compile_host(world(MAPPINGS), COMPUTE) == compile_host(world(MAPPINGS[::-1]), COMPUTE)
