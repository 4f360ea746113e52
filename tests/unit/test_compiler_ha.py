"""``compiler.ha``: an HA router on each of its hosts (issue 7): its namespace, legs handed to
keepalived, its ``ha-`` leg, ``VrrpSpec`` and radvd for the master only; the overlay learns
its legs' MACs and reaches every instance host."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.unit.test_compiler import SLAAC, network, port, router, router_port, subnet, uid
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.hoststate.codec import decode, encode
from v6fabric.hoststate.model import router_namespace, vxlan_name
from v6fabric.hoststate.vrrp import VirtualAddress, VrrpSpec

ENDPOINTS = {"h1": "fd00::1", "h2": "fd00::2", "h3": "fd00::3", "c1": "fd00::9"}
HA_OWNER = "network:router_ha_interface"
LEG_OWNER = "network:ha_router_replicated_interface"  # an HA router's interfaces


def _vxlan(number: int) -> dict[str, Any]:
    return {**network(number), "provider:segmentation_id": 1000 + number}


def _world(**overrides: Any) -> tuple[Snapshot, dict[str, Any]]:
    """An HA router on h1 and h2 with a SLAAC interface, a gateway on an external network, its
    ``ha-`` ports on the HA network, and a workload port on c1."""
    net, ext, ha_net = _vxlan(1), _vxlan(2), {**_vxlan(3), "project_id": ""}
    inside = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    outside = subnet(2, ext, "2001:db8:ff::/64", ra=SLAAC, addr=SLAAC)
    rtr = {
        **router(1),
        "ha": True,
        "external_gateway_info": {"network_id": ext["id"], "external_fixed_ips": []},
    }
    leg = router_port(1, rtr, net, (inside, "2001:db8:1::1"), owner=LEG_OWNER)
    gateway = port(
        2, ext, (outside, "2001:db8:ff::5"), owner="network:router_gateway", device_id=rtr["id"]
    )
    ha1 = port(3, ha_net, owner=HA_OWNER, device_id=rtr["id"], host="h1")
    ha2 = port(4, ha_net, owner=HA_OWNER, device_id=rtr["id"], host="h2")
    vm = port(5, net, (inside, "2001:db8:1::100"), host="c1")
    values: dict[str, Any] = {
        "networks": [net, ext, ha_net],
        "subnets": [inside, outside],
        "ports": [leg, gateway, ha1, ha2, vm],
        "routers": [rtr],
        "network_hosts": ("h1",),
        "tunnel_endpoints": ENDPOINTS,
        "router_hosts": [(rtr["id"], "h1"), (rtr["id"], "h2")],
        "ha_vrids": {rtr["id"]: 7},
        "ha_advert_interval": 0.5,
    }
    values.update(overrides)
    return Snapshot.build(**values), {
        "router": rtr,
        "leg": leg,
        "gateway": gateway,
        "ha1": ha1,
        "ha2": ha2,
        "vm": vm,
        "net": net,
        "ha_net": ha_net,
    }


def test_each_instance_host_gets_the_namespace_legs_ha_leg_and_vrrp() -> None:
    snap, w = _world()
    namespace = router_namespace(w["router"]["id"])
    qr, qg = "qr-" + w["leg"]["id"][:11], "qg-" + w["gateway"]["id"][:11]
    for host, own, other in (("h1", w["ha1"], w["ha2"]), ("h2", w["ha2"], w["ha1"])):
        state = compile_host(snap, host)
        assert namespace in {ns.name for ns in state.namespaces}
        assert state.vrrp == (
            VrrpSpec(
                namespace=namespace,
                router_id=w["router"]["id"],
                vrid=7,
                interface="ha-" + own["id"][:11],
                legs=(qg, qr),
                addresses=(
                    VirtualAddress("2001:db8:ff::5/64", qg),
                    VirtualAddress("2001:db8:1::1/64", qr),
                ),
                peers=(str(eui64_link_local(other["mac_address"])),),
                advert_interval=0.5,
            ),
        )
        legs = {p.ifname: p for p in state.ports if p.namespace == namespace}
        assert set(legs) == {qr, qg, "ha-" + own["id"][:11]}
        assert legs[qr].vrrp_managed and legs[qr].addresses == ()
        assert legs[qg].vrrp_managed and legs[qg].addresses == ()
        ha = legs["ha-" + own["id"][:11]]
        assert (ha.vrrp_managed, ha.addresses, ha.kind, ha.mac) == (
            False,
            (),
            "router",
            own["mac_address"],
        )
        assert ha.network_id == w["ha_net"]["id"]
        (radvd,) = [r for r in state.radvd if r.namespace == namespace]
        assert radvd.vrrp
        # the routes as for any router: the default via the external subnet's gateway
        (ns,) = [n for n in state.namespaces if n.name == namespace]
        assert [(r.destination, r.gateway) for r in ns.routes] == [("::/0", "2001:db8:ff::1")]
        assert any(m.namespace == namespace for m in state.metadata.listeners)
        assert decode(encode(state)) == state  # the codec carries every new field
    assert compile_host(snap, "h3").vrrp == ()
    assert compile_host(snap, "h3").namespaces == ()


def test_the_overlay_learns_ha_legs_and_floods_to_every_instance_host() -> None:
    snap, w = _world()
    on_c1 = compile_host(snap, "c1")
    (net,) = on_c1.networks
    assert net.overlay is not None and net.overlay.learning
    assert net.overlay.remotes == ("fd00::1", "fd00::2")
    assert w["leg"]["mac_address"] not in {e.mac for e in on_c1.fdb}
    on_h1 = compile_host(snap, "h1")
    by_network = {n.network_id: n for n in on_h1.networks}
    ha_overlay = by_network[w["ha_net"]["id"]].overlay
    assert ha_overlay is not None and not ha_overlay.learning  # ha- ports do not move
    assert ha_overlay.remotes == ("fd00::2",)
    assert (vxlan_name(w["ha_net"]["id"]), w["ha2"]["mac_address"], "fd00::2") in {
        (e.device, e.mac, e.remote) for e in on_h1.fdb
    }
    # the instance hosts reach the workload's MAC as before, pinned
    assert (vxlan_name(w["net"]["id"]), w["vm"]["mac_address"], "fd00::9") in {
        (e.device, e.mac, e.remote) for e in on_h1.fdb
    }
    assert by_network[w["net"]["id"]].overlay.remotes == ("fd00::2", "fd00::9")  # type: ignore[union-attr]


def test_a_plain_router_is_unchanged() -> None:
    snap, w = _world()
    plain = replace(
        snap,
        routers=tuple({**r, "ha": False} for r in snap.routers),
        router_hosts=((w["router"]["id"], "h1"),),
        ha_vrids=(),
    )
    state = compile_host(plain, "h1")
    assert state.vrrp == ()
    assert not any(p.vrrp_managed for p in state.ports)
    assert not any(p.ifname and p.ifname.startswith("ha-") for p in state.ports)
    assert not any(r.vrrp for r in state.radvd)
    on_c1 = compile_host(plain, "c1")
    assert not on_c1.networks[0].overlay.learning  # type: ignore[union-attr]
    assert w["leg"]["mac_address"] in {e.mac for e in on_c1.fdb}


def test_one_instance_has_no_peers_and_a_down_leg_is_not_keepalived_s() -> None:
    snap, w = _world(router_hosts=[(uid("r", 1), "h1")])
    (vrrp,) = compile_host(snap, "h1").vrrp
    assert vrrp.peers == ()
    ports = [
        {**p, "admin_state_up": False} if p["id"] == w["gateway"]["id"] else p for p in snap.ports
    ]
    (vrrp,) = compile_host(replace(snap, ports=tuple(ports)), "h1").vrrp
    assert vrrp.legs == ("qr-" + w["leg"]["id"][:11],)
    assert [a.ifname for a in vrrp.addresses] == list(vrrp.legs)


def test_an_instance_without_its_ha_port_or_vrid_gets_no_vrrp() -> None:
    snap, w = _world()
    without_port = replace(snap, ports=tuple(p for p in snap.ports if p["id"] != w["ha2"]["id"]))
    on_h2 = compile_host(without_port, "h2")
    assert on_h2.vrrp == ()
    assert all(p.vrrp_managed for p in on_h2.ports if p.kind == "router")  # legs stay down
    assert compile_host(without_port, "h1").vrrp[0].peers == ()
    assert compile_host(replace(snap, ha_vrids=()), "h1").vrrp == ()


def test_the_router_down_runs_nowhere() -> None:
    snap, w = _world()
    down = replace(snap, routers=tuple({**r, "admin_state_up": False} for r in snap.routers))
    for host in ("h1", "h2"):
        state = compile_host(down, host)
        assert state.vrrp == ()
        assert router_namespace(w["router"]["id"]) not in {n.name for n in state.namespaces}
