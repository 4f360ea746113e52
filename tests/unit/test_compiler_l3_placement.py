"""Routers on their scheduled hosts (``Snapshot.router_hosts``): a router's namespace, legs,
radvd and metadata listeners are on its host and nowhere else, DHCP stays on its DHCP host
(``test_compiler_dhcp_placement``), and the other hosts reach a router's legs over the overlay
at its host's endpoint."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings

from tests.unit.test_compiler import SLAAC, network, port, router, router_port, subnet
from tests.unit.test_compiler_live import with_groups
from tests.unit.test_compiler_properties import HOSTS
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.compiler.index import build_index
from v6fabric.compiler.links import gateway_ports, router_ports
from v6fabric.hoststate.model import router_namespace, vxlan_name

PROPERTY = settings(max_examples=80, deadline=None)


@PROPERTY
@given(with_groups())
def test_every_router_runs_on_its_scheduled_host_only(snap: Snapshot) -> None:
    states = {host: compile_host(snap, host) for host in (*HOSTS, "")}
    index = build_index(snap)
    running = router_ports(index).keys() | gateway_ports(index).keys()  # a gateway is enough
    for host, state in states.items():
        namespaces = {ns.name for ns in state.namespaces}
        expected = {
            router_namespace(r) for r in running if host and host in snap.router_hosts_of(r)
        }
        assert {n for n in namespaces if n.startswith("v6r-")} == expected
        if not snap.runs_dhcp(host):
            assert not any(n.startswith("v6d-") for n in namespaces) and state.dnsmasq == ()
        for spec in state.radvd:
            assert spec.namespace in namespaces
        for listener in state.metadata.listeners:
            assert listener.namespace in namespaces
        legs = {p.namespace for p in state.ports if p.kind == "router"}
        assert legs <= expected
        # HA routers (issue 7): keepalived on each instance host, and it alone owns the legs
        ha = {router_namespace(r) for r, view in index.routers.items() if view.ha}
        for spec in state.vrrp:
            assert spec.namespace in namespaces and spec.namespace in ha
            assert host in snap.router_hosts_of(spec.router_id)
            assert set(spec.legs) <= {p.ifname for p in state.ports if p.vrrp_managed}
        for leg in state.ports:
            if leg.kind == "router" and leg.ifname and leg.ifname[:3] in ("qr-", "qg-"):
                assert leg.vrrp_managed == (leg.namespace in ha)
                assert not leg.vrrp_managed or leg.addresses == ()
        for spec in state.radvd:
            assert spec.vrrp == (spec.namespace in ha)


def test_a_routers_legs_are_reached_at_its_hosts_endpoint() -> None:
    net = {**network(1), "provider:network_type": "vxlan", "provider:segmentation_id": 1001}
    sub = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    rtr = router(1)
    leg = router_port(1, rtr, net, (sub, "2001:db8:1::1"))
    vm = port(2, net, (sub, "2001:db8:1::100"), host="h3")
    snap = Snapshot.build(
        networks=[net],
        subnets=[sub],
        ports=[leg, vm],
        routers=[rtr],
        network_hosts=("h1", "h2"),
        tunnel_endpoints={"h1": "fd00::1", "h2": "fd00::2", "h3": "fd00::3"},
        router_hosts={rtr["id"]: "h2"},
    )
    on_h3 = compile_host(snap, "h3")
    assert [(e.device, e.mac, e.remote) for e in on_h3.fdb] == [
        (vxlan_name(net["id"]), leg["mac_address"].lower(), "fd00::2")
    ]
    on_h2 = compile_host(snap, "h2")
    assert router_namespace(rtr["id"]) in {ns.name for ns in on_h2.namespaces}
    assert not any(ns.name.startswith("v6r-") for ns in compile_host(snap, "h1").namespaces)
    unscheduled = replace(snap, router_hosts=())
    assert compile_host(unscheduled, "h3").fdb == ()  # its legs are nowhere: nothing to reach
    assert not any(
        ns.name.startswith("v6r-") for h in HOSTS for ns in compile_host(unscheduled, h).namespaces
    )
