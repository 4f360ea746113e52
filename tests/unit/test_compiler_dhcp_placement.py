"""Networks' DHCP on their scheduled hosts (``Snapshot.dhcp_hosts``): a network's ``v6d-``
namespace, DHCP ports, dnsmasq, isolated RAs and metadata listener are on its DHCP host and
nowhere else, the other hosts reach its DHCP port over the overlay at that host's endpoint,
and without ``dhcp_hosts`` everything stays on the network host."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings

from tests.unit.test_compiler import (
    STATEFUL,
    dhcp_port,
    network,
    port,
    subnet,
    workload,
)
from tests.unit.test_compiler_live import with_groups
from tests.unit.test_compiler_properties import HOSTS
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.compiler.index import build_index
from v6fabric.compiler.links import dhcp_ports
from v6fabric.hoststate.model import HostState, dhcp_namespace, vxlan_name

PROPERTY = settings(max_examples=80, deadline=None)
ENDPOINTS = {"h1": "fd00::1", "h2": "fd00::2", "h3": "fd00::3"}


@PROPERTY
@given(with_groups())
def test_every_networks_dhcp_runs_on_its_dhcp_host_only(snap: Snapshot) -> None:
    networks = dhcp_ports(build_index(snap))
    for host in (*HOSTS, ""):
        state = compile_host(snap, host)
        expected = {dhcp_namespace(n) for n in networks if host and snap.dhcp_host(n) == host}
        namespaces = {ns.name for ns in state.namespaces}
        assert {n for n in namespaces if n.startswith("v6d-")} == expected
        assert {p.namespace for p in state.ports if p.kind == "dhcp"} <= expected
        assert {d.namespace for d in state.dnsmasq} <= expected
        assert {r.namespace for r in state.radvd if r.namespace.startswith("v6d-")} <= expected
        listeners = {m.namespace for m in state.metadata.listeners}
        assert {n for n in listeners if n.startswith("v6d-")} <= expected


def _two_isolated_networks() -> Snapshot:
    """Two routerless networks with a DHCPv6-stateful subnet each (RAs and DHCP from their
    ``v6d-``), a workload on h3 on both; network 1's DHCP on h1, network 2's on h2."""
    nets, subnets, ports = [], [], []
    for n in (1, 2):
        net = network(n)
        sub = subnet(n, net, f"2001:db8:{n}::/64", ra=STATEFUL, addr=STATEFUL)
        nets.append(net)
        subnets.append(sub)
        ports.append(dhcp_port(10 + n, net, (sub, f"2001:db8:{n}::2")))
        ports.append(port(20 + n, net, (sub, f"2001:db8:{n}::20"), host="h3"))
    return Snapshot.build(
        networks=nets,
        subnets=subnets,
        ports=ports,
        workloads=[workload(1, ports[1], host="h3"), workload(2, ports[3], host="h3")],
        network_hosts=("h1", "h2"),
        tunnel_endpoints=ENDPOINTS,
        router_hosts={},
        dhcp_hosts={nets[1]["id"]: "h2", nets[0]["id"]: "h1"},
    )


def _dhcp_of(state: HostState) -> dict[str, set[str]]:
    """What the host runs per ``v6d-`` namespace: namespace, dnsmasq, radvd, metadata."""
    found: dict[str, set[str]] = {}
    for ns in state.namespaces:
        found.setdefault(ns.name, set()).add("namespace")
    for spec in state.dnsmasq:
        found.setdefault(spec.namespace, set()).add("dnsmasq")
    for radvd in state.radvd:
        found.setdefault(radvd.namespace, set()).add("radvd")
    for listener in state.metadata.listeners:
        found.setdefault(listener.namespace, set()).add("metadata")
    return found


def test_each_network_gets_its_namespace_daemons_and_listener_on_its_dhcp_host() -> None:
    snap = _two_isolated_networks()
    n1, n2 = (net["id"] for net in snap.networks)
    everything = {"namespace", "dnsmasq", "radvd", "metadata"}
    assert snap.dhcp_hosts == tuple(sorted({n1: "h1", n2: "h2"}.items()))
    assert (snap.dhcp_host(n1), snap.dhcp_host(n2), snap.dhcp_host("other")) == ("h1", "h2", None)
    assert _dhcp_of(compile_host(snap, "h1")) == {dhcp_namespace(n1): everything}
    assert _dhcp_of(compile_host(snap, "h2")) == {dhcp_namespace(n2): everything}
    assert _dhcp_of(compile_host(snap, "h3")) == {}
    assert (snap.runs_dhcp("h1"), snap.runs_dhcp("h3"), snap.runs_dhcp("")) == (True, False, False)


def test_a_networks_dhcp_port_is_reached_at_its_dhcp_hosts_endpoint() -> None:
    snap = _two_isolated_networks()
    n1, n2 = snap.networks
    ns1, ns2 = (p for p in snap.ports if p["device_owner"] == "network:dhcp")
    on_h3 = compile_host(snap, "h3")
    assert {(e.device, e.mac, e.remote) for e in on_h3.fdb} == {
        (vxlan_name(n1["id"]), ns1["mac_address"].lower(), "fd00::1"),
        (vxlan_name(n2["id"]), ns2["mac_address"].lower(), "fd00::2"),
    }
    # h1 has network 1 only (its DHCP): h3's workload port is its one remote
    on_h1 = compile_host(snap, "h1")
    assert [(n.network_id, n.overlay and n.overlay.remotes) for n in on_h1.networks] == [
        (n1["id"], ("fd00::3",))
    ]


def test_a_move_takes_everything_to_the_new_host() -> None:
    snap = _two_isolated_networks()
    n1 = snap.networks[0]["id"]
    moved = replace(
        snap, dhcp_hosts=tuple(sorted({n1: "h2", snap.networks[1]["id"]: "h2"}.items()))
    )
    assert _dhcp_of(compile_host(moved, "h1")) == {}
    assert set(_dhcp_of(compile_host(moved, "h2"))) == {
        dhcp_namespace(n["id"]) for n in snap.networks
    }
    assert {e.remote for e in compile_host(moved, "h3").fdb} == {"fd00::2"}


def test_an_unplaced_network_has_its_dhcp_nowhere() -> None:
    snap = _two_isolated_networks()
    n2 = snap.networks[1]["id"]
    unplaced = replace(snap, dhcp_hosts=((n2, "h2"),))
    assert _dhcp_of(compile_host(unplaced, "h1")) == {}
    assert set(_dhcp_of(compile_host(unplaced, "h2"))) == {dhcp_namespace(n2)}
    assert {e.remote for e in compile_host(unplaced, "h3").fdb} == {"fd00::2"}  # n1's: nowhere


def test_without_dhcp_hosts_every_network_is_on_the_network_host() -> None:
    snap = replace(_two_isolated_networks(), dhcp_hosts=None)
    assert set(_dhcp_of(compile_host(snap, "h1"))) == {
        dhcp_namespace(n["id"]) for n in snap.networks
    }
    assert _dhcp_of(compile_host(snap, "h2")) == {}
    assert {e.remote for e in compile_host(snap, "h3").fdb} == {"fd00::1"}
