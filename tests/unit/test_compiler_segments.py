"""The compiler's GRE overlays (``kind="gre"``: remotes, the key, no forwarding entries) and
vlan networks (``NetworkSpec.vlan`` with the host's interface), and none where the host cannot
(no tunnel endpoint, no mapping of the physical network)."""

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
from v6fabric.hoststate.model import OverlaySpec

GRE = {**network(1), "provider:network_type": "gre", "provider:segmentation_id": 4242}
VLAN = {
    **network(2),
    "provider:network_type": "vlan",
    "provider:physical_network": "physnet1",
    "provider:segmentation_id": 100,
}
S1 = subnet(1, GRE, "2001:db8:1::/64")
S2 = subnet(2, VLAN, "2001:db8:2::/64", addr="slaac")
NS = dhcp_port(10, GRE, (S1, "2001:db8:1::2"))
A1 = port(20, GRE, (S1, "2001:db8:1::20"))
B1 = port(21, GRE, (S1, "2001:db8:1::21"), host=OTHER)
A2 = port(22, VLAN, (S2, "2001:db8:2::22"))
B2 = port(23, VLAN, (S2, "2001:db8:2::23"), host=OTHER)
ENDPOINTS = {NET_HOST: "192.0.2.1", COMPUTE: "192.0.2.2", OTHER: "192.0.2.3"}
MAPPINGS = [(COMPUTE, "physnet1", "eth1"), (OTHER, "physnet2", "eth2")]


def world(endpoints: dict[str, str] = ENDPOINTS, mappings: list = MAPPINGS) -> object:
    return snapshot(
        networks=[GRE, VLAN],
        subnets=[S1, S2],
        ports=[NS, A1, B1, A2, B2],
        workloads=[workload(1, A1, A2), workload(2, B1, B2, host=OTHER)],
        tunnel_endpoints=endpoints,
        physical_interfaces=mappings,
    )


def _networks(host: str, **kwargs: object) -> dict:
    state = compile_host(world(**kwargs), host)  # type: ignore[arg-type]
    return {spec.network_id: spec for spec in state.networks}


def test_a_gre_network_has_the_other_hosts_as_remotes_the_key_and_no_fdb():
    state = compile_host(world(), COMPUTE)
    gre = next(spec for spec in state.networks if spec.network_id == GRE["id"])
    assert gre.overlay == OverlaySpec(
        device="gt-" + GRE["id"][:6],
        vni=4242,
        local="192.0.2.2",
        remotes=("192.0.2.1", "192.0.2.3"),  # the network host (DHCP) and OTHER
        kind="gre",
    )
    assert state.fdb == ()
    assert gre.vlan is None and gre.physical_interface is None
    net_host = _networks(NET_HOST)[GRE["id"]].overlay
    assert net_host is not None and net_host.remotes == ("192.0.2.2", "192.0.2.3")


def test_no_gre_overlay_on_a_host_without_an_endpoint():
    endpoints = {NET_HOST: "192.0.2.1", OTHER: "192.0.2.3"}
    assert _networks(COMPUTE, endpoints=endpoints)[GRE["id"]].overlay is None
    other = _networks(OTHER, endpoints=endpoints)[GRE["id"]].overlay
    assert other is not None and other.remotes == ("192.0.2.1",)  # COMPUTE has none


def test_a_vlan_network_gets_the_mapped_interface_and_its_id_where_mapped():
    vlan = _networks(COMPUTE)[VLAN["id"]]
    assert (vlan.physical_interface, vlan.vlan, vlan.overlay) == ("eth1", 100, None)
    elsewhere = _networks(OTHER)[VLAN["id"]]  # maps physnet2 only
    assert (elsewhere.physical_interface, elsewhere.vlan) == (None, None)
    assert _networks(COMPUTE, mappings=[])[VLAN["id"]].vlan is None


def test_a_flat_network_on_the_same_physical_network_has_no_vlan():
    flat = {**VLAN, "provider:network_type": "flat", "provider:segmentation_id": None}
    state = compile_host(
        snapshot(
            networks=[flat],
            subnets=[S2],
            ports=[A2],
            workloads=[workload(1, A2)],
            physical_interfaces=MAPPINGS,
        ),
        COMPUTE,
    )
    assert (state.networks[0].physical_interface, state.networks[0].vlan) == ("eth1", None)
