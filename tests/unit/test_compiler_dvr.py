"""``compiler.dvr``: a distributed router (R20) on every workload host with per-host leg MACs,
permanent neighbours and a default route to its central instance; the central instance on the
scheduled host; the overlay pinning every leg where it is; the firewall's uplinks and
``local_only``."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_compiler import SLAAC, network, port, router, router_port, subnet, uid
from tests.unit.test_compiler_live import bring_forward, with_groups
from tests.unit.test_compiler_properties import (
    HOSTS,
    MAX_IFNAME,
    MAX_NAMESPACE,
    hosts_of,
    names,
    shuffled,
    snapshots,
)
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.compiler.dvr import dvr_hosts
from v6fabric.compiler.dvr_view import uplinks
from v6fabric.compiler.index import build_index
from v6fabric.compiler.links import gateway_ports, router_ports
from v6fabric.compiler.live import LiveInputs
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.domain.constants import DEVICE_OWNER_DVR_INTERFACE as DVR_OWNER
from v6fabric.hoststate.codec import decode, encode
from v6fabric.hoststate.dvr import central_leg_id, central_leg_mac, host_leg_mac
from v6fabric.hoststate.metadata import METADATA_IPV6
from v6fabric.hoststate.model import (
    HostState,
    NeighborSpec,
    NetworkSpec,
    OverlaySpec,
    RouteSpec,
    central_namespace,
    gre_name,
    router_namespace,
    vlan_name,
    vxlan_name,
)

ENDPOINTS = {"c1": "fd00::1", "c2": "fd00::2", "n1": "fd00::9"}


def _vxlan(number: int) -> dict[str, Any]:
    return {**network(number), "provider:segmentation_id": 1000 + number}


def _ll(mac: str) -> str:
    return str(eui64_link_local(mac))


def _world(*, gateway: bool = True, **overrides: Any) -> tuple[Snapshot, dict[str, Any]]:
    """A distributed router R on net1 (an IPv6 leg and an IPv4 one) and net2, its gateway on
    ext, scheduled on n1; a workload on net1 on c1, one on net2 on c2; net1's DHCP port on
    n1; a plain router P on net2 (on n1) and another distributed router D on net2."""
    net1, net2, ext = _vxlan(1), _vxlan(2), _vxlan(3)
    s1 = subnet(1, net1, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    s1v4 = subnet(2, net1, "10.0.1.0/24")
    s2 = subnet(3, net2, "2001:db8:2::/64", ra=SLAAC, addr=SLAAC)
    sx = subnet(4, ext, "2001:db8:ff::/64", ra=SLAAC, addr=SLAAC)
    rtr = {
        **router(1, routes=[{"destination": "2001:db8:99::/48", "nexthop": "2001:db8:1::fe"}]),
        "distributed": True,
        "external_gateway_info": (
            {"network_id": ext["id"], "external_fixed_ips": []} if gateway else None
        ),
    }
    plain, other = router(2), {**router(3), "distributed": True}
    leg1 = router_port(10, rtr, net1, (s1, "2001:db8:1::1"), owner=DVR_OWNER)
    leg1v4 = router_port(11, rtr, net1, (s1v4, "10.0.1.1"), owner=DVR_OWNER)
    leg2 = router_port(12, rtr, net2, (s2, "2001:db8:2::1"), owner=DVR_OWNER)
    gw = port(13, ext, (sx, "2001:db8:ff::5"), owner="network:router_gateway", device_id=rtr["id"])
    plain_leg = router_port(14, plain, net2, (s2, "2001:db8:2::fe"))
    other_leg = router_port(15, other, net2, (s2, "2001:db8:2::2"), owner=DVR_OWNER)
    dhcp = port(
        16, net1, (s1, "2001:db8:1::2"), (s1v4, "10.0.1.2"), owner="network:dhcp", host="n1"
    )
    vm_a = port(20, net1, (s1, "2001:db8:1::a"), (s1v4, "10.0.1.10"), host="c1")
    vm_b = port(21, net2, (s2, "2001:db8:2::b"), host="c2")
    ports = [leg1, leg1v4, leg2, gw, plain_leg, other_leg, dhcp, vm_a, vm_b]
    if not gateway:
        ports.remove(gw)
    values: dict[str, Any] = {
        "networks": [net1, net2, ext],
        "subnets": [s1, s1v4, s2, sx],
        "ports": ports,
        "routers": [rtr, plain, other],
        "network_hosts": ("n1",),
        "tunnel_endpoints": ENDPOINTS,
        "router_hosts": [(rtr["id"], "n1"), (plain["id"], "n1"), (other["id"], "n1")],
        "dhcp_hosts": {net1["id"]: "n1"},
    }
    values.update(overrides)
    world = {
        "router": rtr,
        "net1": net1,
        "net2": net2,
        "ext": ext,
        "leg1": leg1,
        "leg1v4": leg1v4,
        "leg2": leg2,
        "gw": gw,
        "plain_leg": plain_leg,
        "other_leg": other_leg,
        "dhcp": dhcp,
        "vm_a": vm_a,
        "vm_b": vm_b,
    }
    return Snapshot.build(**values), world


def _qr(wire: dict[str, Any]) -> str:
    return "qr-" + wire["id"][:11]


def _sg(router_id: str, network_id: str) -> str:
    return "sg-" + central_leg_id(router_id, network_id)[:11]


def _namespace(state: HostState, name: str) -> Any:
    (found,) = [ns for ns in state.namespaces if ns.name == name]
    return found


def test_the_router_is_on_every_host_with_a_workload_on_one_of_its_networks() -> None:
    snap, w = _world()
    assert dvr_hosts(build_index(snap), w["router"]["id"]) == ("c1", "c2")
    assert dvr_hosts(build_index(replace(snap, ports=())), w["router"]["id"]) == ()
    instance = router_namespace(w["router"]["id"])
    for host in ("c1", "c2"):
        state = compile_host(snap, host)
        legs = {p.ifname: p for p in state.ports if p.namespace == instance}
        # every interface, not only those of the networks with a local workload
        assert set(legs) == {_qr(w["leg1"]), _qr(w["leg1v4"]), _qr(w["leg2"])}
        for wire in (w["leg1"], w["leg1v4"], w["leg2"]):
            leg = legs[_qr(wire)]
            assert (leg.kind, leg.tap, leg.port_id) == (
                "router",
                "tap" + wire["id"][:11],
                wire["id"],
            )
            assert leg.mac == host_leg_mac(host, wire["id"]) != wire["mac_address"]
        assert legs[_qr(w["leg1"])].addresses == (
            "2001:db8:1::1/64",
            f"{_ll(w['leg1']['mac_address'])}/64",
        )
        assert legs[_qr(w["leg1v4"])].addresses == (
            "10.0.1.1/24",
            f"{_ll(w['leg1v4']['mac_address'])}/64",
        )
        assert central_namespace(w["router"]["id"]) not in {n.name for n in state.namespaces}
        assert decode(encode(state)) == state
    # the scheduled host has no workload: no instance there, only the central one
    on_n1 = compile_host(snap, "n1")
    assert instance not in {n.name for n in on_n1.namespaces}
    assert not any(p.namespace == instance for p in on_n1.ports)


def test_an_instance_routes_to_the_central_leg_and_knows_every_neighbour() -> None:
    snap, w = _world()
    rid = w["router"]["id"]
    ns = _namespace(compile_host(snap, "c1"), router_namespace(rid))
    assert ns.forwarding and ns.distributed and ns.ra_uplink is None
    central_ll = _ll(central_leg_mac(rid, w["net1"]["id"]))  # net1: the first by id
    assert ns.routes == (
        RouteSpec("::/0", central_ll, _qr(w["leg1"])),
        RouteSpec("2001:db8:99::/48", "2001:db8:1::fe"),
    )
    qr1, qr1v4, qr2 = _qr(w["leg1"]), _qr(w["leg1v4"]), _qr(w["leg2"])
    assert ns.neighbors == tuple(
        sorted(
            [
                NeighborSpec(qr1, "2001:db8:1::2", w["dhcp"]["mac_address"]),
                NeighborSpec(qr1v4, "10.0.1.2", w["dhcp"]["mac_address"]),
                NeighborSpec(qr1, "2001:db8:1::a", w["vm_a"]["mac_address"]),
                NeighborSpec(qr1v4, "10.0.1.10", w["vm_a"]["mac_address"]),
                NeighborSpec(qr2, "2001:db8:2::b", w["vm_b"]["mac_address"]),
                # another router's plain port; not D's (distributed: a MAC per host)
                NeighborSpec(qr2, "2001:db8:2::fe", w["plain_leg"]["mac_address"]),
                # the next hop of the default route: never solicited either
                NeighborSpec(qr1, central_ll, central_leg_mac(rid, w["net1"]["id"])),
            ],
            key=lambda n: (n.ifname, n.address),
        )
    )
    # the same everywhere but the legs' MACs
    on_c2 = _namespace(compile_host(snap, "c2"), router_namespace(rid))
    assert on_c2 == ns


def test_allowed_address_pairs_are_not_neighbours() -> None:
    snap, w = _world()
    pairs = [{"ip_address": "2001:db8:1::100", "mac_address": "fa:16:3e:aa:bb:cc"}]
    ports = [
        {**p, "allowed_address_pairs": pairs} if p["id"] == w["vm_a"]["id"] else p
        for p in snap.ports
    ]
    ns = _namespace(
        compile_host(replace(snap, ports=tuple(ports)), "c1"),
        router_namespace(w["router"]["id"]),
    )
    assert "2001:db8:1::100" not in {n.address for n in ns.neighbors}


def test_an_extra_default_route_stands_and_no_gateway_means_no_default() -> None:
    snap, w = _world()
    extra = [{"destination": "::/0", "nexthop": "2001:db8:1::fe"}]
    routers = tuple(
        {**r, "routes": extra} if r["id"] == w["router"]["id"] else r for r in snap.routers
    )
    ns = _namespace(
        compile_host(replace(snap, routers=routers), "c1"), router_namespace(w["router"]["id"])
    )
    assert ns.routes == (RouteSpec("::/0", "2001:db8:1::fe"),)
    snap, w = _world(gateway=False)
    for host in ("c1", "c2", "n1"):
        state = compile_host(snap, host)
        assert central_namespace(w["router"]["id"]) not in {n.name for n in state.namespaces}
    ns = _namespace(compile_host(snap, "c1"), router_namespace(w["router"]["id"]))
    assert [r.destination for r in ns.routes] == ["2001:db8:99::/48"]


def test_radvd_and_metadata_as_for_any_router_on_every_instance() -> None:
    snap, w = _world()
    instance = router_namespace(w["router"]["id"])
    for host in ("c1", "c2"):
        state = compile_host(snap, host)
        (radvd,) = [r for r in state.radvd if r.namespace == instance]
        sources = {i.ifname: i.source for i in radvd.interfaces}
        assert sources == {
            _qr(w["leg1"]): _ll(w["leg1"]["mac_address"]),
            _qr(w["leg2"]): _ll(w["leg2"]["mac_address"]),
        }
        listeners = {
            (m.ifname, m.network_id) for m in state.metadata.listeners if m.namespace == instance
        }
        assert listeners == {
            (_qr(w["leg1"]), w["net1"]["id"]),
            (_qr(w["leg1v4"]), w["net1"]["id"]),
            (_qr(w["leg2"]), w["net2"]["id"]),
        }
        assert w["vm_a"]["id"] in {p.port_id for p in state.metadata.ports}


def test_the_central_instance_on_the_scheduled_host() -> None:
    snap, w = _world()
    rid = w["router"]["id"]
    state = compile_host(snap, "n1")
    central = central_namespace(rid)
    legs = {p.ifname: p for p in state.ports if p.namespace == central}
    sg1, sg2 = _sg(rid, w["net1"]["id"]), _sg(rid, w["net2"]["id"])
    qg = "qg-" + w["gw"]["id"][:11]
    assert set(legs) == {qg, sg1, sg2}  # no sg- leg for the IPv4-only port
    assert (legs[qg].mac, legs[qg].addresses) == (w["gw"]["mac_address"], ("2001:db8:ff::5/64",))
    for net, ifname in ((w["net1"], sg1), (w["net2"], sg2)):
        leg = legs[ifname]
        leg_id = central_leg_id(rid, net["id"])
        assert (leg.port_id, leg.tap, leg.network_id, leg.kind) == (
            leg_id,
            "tap" + leg_id[:11],
            net["id"],
            "router",
        )
        assert (leg.mac, leg.addresses) == (central_leg_mac(rid, net["id"]), ())
    ns = _namespace(state, central)
    assert ns.forwarding and not ns.distributed  # on this host only
    assert ns.routes == (
        RouteSpec("::/0", "2001:db8:ff::1"),
        RouteSpec("2001:db8:1::/64", None, sg1),
        RouteSpec("2001:db8:2::/64", None, sg2),
    )
    assert {(n.ifname, n.address) for n in ns.neighbors} == {
        (sg1, "2001:db8:1::2"),
        (sg1, "10.0.1.2"),
        (sg1, "2001:db8:1::a"),
        (sg1, "10.0.1.10"),
        (sg2, "2001:db8:2::b"),
        (sg2, "2001:db8:2::fe"),
    }
    assert not any(r.namespace == central for r in state.radvd)
    assert not any(m.namespace == central for m in state.metadata.listeners)
    assert router_namespace(rid) not in {n.name for n in state.namespaces}
    # not on another host, whatever it runs
    assert central not in {n.name for n in compile_host(snap, "c1").namespaces}


def test_a_scheduled_host_with_a_workload_has_both_namespaces() -> None:
    snap, w = _world(router_hosts=[(uid("r", 1), "c1")])
    names = {n.name for n in compile_host(snap, "c1").namespaces}
    assert {router_namespace(w["router"]["id"]), central_namespace(w["router"]["id"])} <= names


def test_the_overlay_pins_each_hosts_legs_and_the_central_legs() -> None:
    snap, w = _world()
    rid = w["router"]["id"]
    on_c1 = compile_host(snap, "c1")
    net2 = next(n for n in on_c1.networks if n.network_id == w["net2"]["id"])
    assert net2.overlay is not None and not net2.overlay.learning
    assert net2.overlay.remotes == ("fd00::2", "fd00::9")
    fdb = {(e.device, e.mac): e.remote for e in on_c1.fdb}
    device = vxlan_name(w["net2"]["id"])
    assert fdb[(device, host_leg_mac("c2", w["leg2"]["id"]))] == "fd00::2"
    assert fdb[(device, central_leg_mac(rid, w["net2"]["id"]))] == "fd00::9"
    assert fdb[(device, w["vm_b"]["mac_address"])] == "fd00::2"
    assert (device, host_leg_mac("c1", w["leg2"]["id"])) not in fdb  # its own leg is local
    api_macs = {w[k]["mac_address"] for k in ("leg1", "leg1v4", "leg2", "other_leg")}
    assert not api_macs & {e.mac for e in on_c1.fdb}
    # the central host reaches every instance's legs
    on_n1 = {(e.device, e.mac): e.remote for e in compile_host(snap, "n1").fdb}
    assert on_n1[(device, host_leg_mac("c1", w["leg2"]["id"]))] == "fd00::1"
    assert on_n1[(device, host_leg_mac("c2", w["leg2"]["id"]))] == "fd00::2"
    # the gateway port as any router's: on the scheduled host
    ext = vxlan_name(w["ext"]["id"])
    assert (ext, w["gw"]["mac_address"]) not in on_n1


def test_remote_instances_are_no_ra_sources() -> None:
    snap, w = _world()
    on_c1 = compile_host(snap, "c1")
    net1 = next(n for n in on_c1.firewall.networks if n.network_id == w["net1"]["id"])
    assert _ll(w["leg1"]["mac_address"]) not in net1.ra_sources
    assert _ll(w["dhcp"]["mac_address"]) in net1.ra_sources


def test_the_firewall_knows_the_legs_uplinks_and_what_stays_local() -> None:
    snap, w = _world()
    rid = w["router"]["id"]
    on_c1 = compile_host(snap, "c1")
    by_port = {p.port_id: p for p in on_c1.firewall.ports}
    leg = by_port[w["leg1"]["id"]]
    assert (leg.role, leg.mac, leg.port_security) == (
        "router",
        host_leg_mac("c1", w["leg1"]["id"]),
        False,
    )
    networks = {n.network_id: n for n in on_c1.firewall.networks}
    assert networks[w["net1"]["id"]].uplinks == (vxlan_name(w["net1"]["id"]),)
    assert networks[w["net1"]["id"]].local_only == tuple(
        sorted(
            {
                "2001:db8:1::1",
                "10.0.1.1",
                _ll(w["leg1"]["mac_address"]),
                _ll(w["leg1v4"]["mac_address"]),
                METADATA_IPV6,
            }
        )
    )
    # net2 has D's interface too (another distributed router): its addresses stay local as well
    assert {"2001:db8:2::1", "2001:db8:2::2", _ll(w["other_leg"]["mac_address"])} <= set(
        networks[w["net2"]["id"]].local_only
    )
    assert "2001:db8:2::fe" not in networks[w["net2"]["id"]].local_only  # the plain router's
    on_n1 = compile_host(snap, "n1")
    sg = central_leg_id(rid, w["net1"]["id"])
    assert {p.port_id: p for p in on_n1.firewall.ports}[sg].mac == central_leg_mac(
        rid, w["net1"]["id"]
    )
    ext = {n.network_id: n for n in on_n1.firewall.networks}[w["ext"]["id"]]
    assert ext.local_only == () and ext.uplinks == (vxlan_name(w["ext"]["id"]),)


def test_uplinks_of_each_kind_of_network() -> None:
    nid = uid("n", 7)
    overlay = OverlaySpec("vx-x", 5, "fd00::1", ("fd00::2", "fd00::3"))
    assert uplinks(NetworkSpec(nid, "v6b-x", 1500)) == ()
    assert uplinks(NetworkSpec(nid, "v6b-x", 1500, overlay)) == ("vx-x",)
    gre = replace(overlay, kind="gre")
    assert uplinks(NetworkSpec(nid, "v6b-x", 1500, gre)) == tuple(
        sorted(gre_name(nid, r) for r in ("fd00::2", "fd00::3"))
    )
    assert uplinks(NetworkSpec(nid, "v6b-x", 1500, physical_interface="eth1")) == ("eth1",)
    assert uplinks(NetworkSpec(nid, "v6b-x", 1500, physical_interface="eth1", vlan=10)) == (
        vlan_name(nid),
    )


def test_without_distributed_routers_nothing_is_local_only() -> None:
    snap, w = _world()
    plain = replace(snap, routers=tuple({**r, "distributed": False} for r in snap.routers))
    for host in ("c1", "c2", "n1"):
        state = compile_host(plain, host)
        assert all(n.local_only == () for n in state.firewall.networks)
        assert all(ns.neighbors == () for ns in state.namespaces)
        assert all(n.uplinks for n in state.firewall.networks)  # every network has its uplink
    on_n1 = compile_host(plain, "n1")  # the plain router is back on its scheduled host
    assert router_namespace(w["router"]["id"]) in {n.name for n in on_n1.namespaces}


def test_the_router_down_runs_nowhere_and_its_legs_are_nowhere() -> None:
    snap, w = _world()
    rid = w["router"]["id"]
    routers = tuple({**r, "admin_state_up": False} if r["id"] == rid else r for r in snap.routers)
    down = replace(snap, routers=routers)
    for host in ("c1", "c2", "n1"):
        state = compile_host(down, host)
        names = {n.name for n in state.namespaces}
        assert router_namespace(rid) not in names and central_namespace(rid) not in names
        macs = {e.mac for e in state.fdb}
        assert host_leg_mac("c1", w["leg2"]["id"]) not in macs
        assert central_leg_mac(rid, w["net2"]["id"]) not in macs


def test_a_leg_down_is_plumbed_down_and_the_default_moves_to_the_next_network() -> None:
    snap, w = _world()
    rid = w["router"]["id"]
    ports = tuple(
        {**p, "admin_state_up": False} if p["id"] == w["leg1"]["id"] else p for p in snap.ports
    )
    state = compile_host(replace(snap, ports=ports), "c1")
    leg = next(p for p in state.ports if p.port_id == w["leg1"]["id"])
    assert not leg.admin_up
    ns = _namespace(state, router_namespace(rid))
    central_ll = _ll(central_leg_mac(rid, w["net2"]["id"]))
    assert RouteSpec("::/0", central_ll, _qr(w["leg2"])) in ns.routes
    assert _qr(w["leg1"]) not in {n.ifname for n in ns.neighbors}


def test_any_input_order_gives_the_same_state() -> None:
    snap, _w = _world()
    shuffled = random.Random(7)
    for host in ("c1", "c2", "n1"):
        expected = compile_host(snap, host)
        for _ in range(3):
            items = {
                kind: shuffled.sample(list(getattr(snap, kind)), len(getattr(snap, kind)))
                for kind in ("networks", "subnets", "ports", "routers")
            }
            assert compile_host(replace(snap, **items), host) == expected


def test_live_inputs_give_each_host_what_a_full_compile_does() -> None:
    snap, w = _world()
    variants = [
        snap,
        replace(snap, tunnel_endpoints=()),  # no overlay: the interfaces still matter
        _world(gateway=False)[0],
        replace(snap, router_hosts=((w["router"]["id"], "c2"),)),
    ]
    for variant in variants:
        live = LiveInputs()
        bring_forward(live, None, variant)
        for host in ("c1", "c2", "n1", ""):
            assert compile_host(live.snapshot_for(host), host) == compile_host(variant, host)


@settings(max_examples=60, deadline=None)
@given(snapshots(), st.data())
def test_generated_distributed_routers_give_consistent_states(snap, data):
    routers = tuple({**r, "distributed": data.draw(st.booleans())} for r in snap.routers)
    snap = replace(snap, routers=routers)
    other = shuffled(data.draw, snap)
    for host in hosts_of(snap):
        state = compile_host(snap, host)
        assert compile_host(other, host) == state
        assert decode(encode(state)) == state
        interfaces, namespaces = names(state)
        assert all(0 < len(name) <= MAX_IFNAME for name in interfaces)
        assert all(0 < len(name) <= MAX_NAMESPACE for name in namespaces)
        taps = [p.tap for p in state.ports]
        assert len(taps) == len(set(taps))
        assert {p.network_id for p in state.ports} == {n.network_id for n in state.networks}
        legs = {(p.namespace, p.ifname) for p in state.ports if p.namespace}
        assert {ns for ns, _ in legs} <= {n.name for n in state.namespaces}
        for namespace in state.namespaces:
            assert {(namespace.name, n.ifname) for n in namespace.neighbors} <= legs
            devices = {(namespace.name, r.device) for r in namespace.routes if r.device}
            assert devices <= legs


@settings(max_examples=60, deadline=None)
@given(with_groups(distributed=True))
def test_each_router_runs_where_its_kind_says(snap):
    """Plain and HA routers on their scheduled hosts, distributed ones on their workload hosts
    and their central instance (with a gateway) on the scheduled host."""
    index = build_index(snap)
    interfaces, gateways = router_ports(index), gateway_ports(index)
    for host in (*HOSTS, ""):
        state = compile_host(snap, host)
        present = {ns.name for ns in state.namespaces}
        expected = {
            router_namespace(r)
            for r in interfaces.keys() | gateways.keys()
            if host
            and (
                host in dvr_hosts(index, r) and r in interfaces
                if index.routers[r].distributed
                else host in snap.router_hosts_of(r)
            )
        }
        assert {n for n in present if n.startswith("v6r-")} == expected
        central = {
            central_namespace(r)
            for r in gateways
            if host and index.routers[r].distributed and host in snap.router_hosts_of(r)
        }
        assert {n for n in present if n.startswith("v6s-")} == central
