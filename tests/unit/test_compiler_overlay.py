"""``compiler.overlay``: VXLAN devices and the forwarding entries of the ports on other hosts."""

from __future__ import annotations

from tests.unit.test_compiler import (
    COMPUTE,
    NET_HOST,
    OTHER,
    dhcp_port,
    network,
    port,
    router,
    router_port,
    snapshot,
    subnet,
    workload,
)
from v6fabric.compiler import compile_host
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.hoststate.model import FdbEntry, OverlaySpec, vxlan_name

N1 = network(1)
N2 = network(2)
FLAT = {**network(3), "provider:network_type": "flat", "provider:segmentation_id": None}
S1 = subnet(1, N1, "2001:db8:1::/64")
S2 = subnet(2, N2, "2001:db8:2::/64")
S3 = subnet(3, FLAT, "2001:db8:3::/64")
R1 = router(1)
QR = router_port(10, R1, N1, (S1, "2001:db8:1::1"))
NS = dhcp_port(11, N1, (S1, "2001:db8:1::2"))
A1 = port(20, N1, (S1, "2001:db8:1::20"))  # on COMPUTE
B1 = port(21, N1, (S1, "2001:db8:1::21"), host=OTHER)
B2 = port(22, N2, (S2, "2001:db8:2::22"), host=OTHER)
A3 = port(23, FLAT, (S3, "2001:db8:3::23"))
UNBOUND = port(24, N1, (S1, "2001:db8:1::24"), host="")
ENDPOINTS = {NET_HOST: "fd00:99::1", COMPUTE: "fd00:99::2", OTHER: "fd00:99::3"}


def world(**endpoints: str) -> object:
    return snapshot(
        networks=[N1, N2, FLAT],
        subnets=[S1, S2, S3],
        ports=[QR, NS, A1, B1, B2, A3, UNBOUND],
        routers=[R1],
        workloads=[workload(1, A1, A3), workload(2, B1, B2, host=OTHER)],
        tunnel_endpoints=endpoints or ENDPOINTS,
    )


def test_a_compute_host_joins_the_segment_of_each_of_its_vxlan_networks():
    state = compile_host(world(), COMPUTE)
    by_network = {spec.network_id: spec for spec in state.networks}
    assert by_network[N1["id"]].overlay == OverlaySpec(
        device=vxlan_name(N1["id"]),
        vni=1001,
        local="fd00:99::2",
        remotes=("fd00:99::1", "fd00:99::3"),  # the network host (DHCP, router) and OTHER
    )
    assert by_network[FLAT["id"]].overlay is None  # not an overlay type
    assert N2["id"] not in by_network  # no port of it here
    device = vxlan_name(N1["id"])
    assert state.fdb == tuple(
        sorted(
            [
                FdbEntry(device, QR["mac_address"], "fd00:99::1"),
                FdbEntry(device, NS["mac_address"], "fd00:99::1"),
                FdbEntry(device, B1["mac_address"], "fd00:99::3"),
            ],
            key=lambda entry: entry.entry_id,
        )
    )  # neither its own port nor the unbound one, nor B2 (a network it does not have)


def test_the_network_host_sees_the_workload_ports_of_every_host():
    state = compile_host(world(), NET_HOST)
    overlay = next(s for s in state.networks if s.network_id == N1["id"]).overlay
    assert overlay is not None and overlay.remotes == ("fd00:99::2", "fd00:99::3")
    assert {(e.mac, e.remote) for e in state.fdb} == {
        (A1["mac_address"], "fd00:99::2"),
        (B1["mac_address"], "fd00:99::3"),
    }


def test_a_host_without_an_endpoint_keeps_its_networks_on_its_bridge_and_is_nobodys_remote():
    snap = world(**{NET_HOST: "fd00:99::1", OTHER: "fd00:99::3"})  # COMPUTE has none
    assert all(spec.overlay is None for spec in compile_host(snap, COMPUTE).networks)
    assert compile_host(snap, COMPUTE).fdb == ()
    other = compile_host(snap, OTHER)
    overlay = next(s for s in other.networks if s.network_id == N1["id"]).overlay
    assert overlay is not None and overlay.remotes == ("fd00:99::1",)
    assert A1["mac_address"] not in {entry.mac for entry in other.fdb}


def test_ipv4_endpoints_work_the_same():
    snap = world(**{NET_HOST: "198.18.0.1", COMPUTE: "198.18.0.2", OTHER: "198.18.0.3"})
    overlay = next(s for s in compile_host(snap, OTHER).networks if s.network_id == N1["id"])
    assert overlay.overlay is not None
    assert overlay.overlay.local == "198.18.0.3"
    assert overlay.overlay.remotes == ("198.18.0.1", "198.18.0.2")


def test_the_ra_guard_admits_the_remote_router_and_dhcp_link_locals_over_the_overlay():
    """Host COMPUTE's workloads learn their prefix from the router on the network host: its RAs
    arrive over the overlay, so the guard admits the router's and DHCP port's link-locals."""
    firewall = compile_host(world(), COMPUTE).firewall
    network = next(n for n in firewall.networks if n.network_id == N1["id"])
    assert set(network.ra_sources) == {
        str(eui64_link_local(QR["mac_address"])),
        str(eui64_link_local(NS["mac_address"])),
    }
    alone = world(**{NET_HOST: "fd00:99::1"})  # COMPUTE has no endpoint: no overlay, no RA
    network = next(
        n for n in compile_host(alone, COMPUTE).firewall.networks if n.network_id == N1["id"]
    )
    assert network.ra_sources == ()
