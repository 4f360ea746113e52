"""A router's external gateway (R4) in the compiler and the agent's plan: the ``qg-`` leg on the
router's host only, its default route in Neutron's order (the external subnet's gateway, else
``Snapshot.ipv6_gateway``, else the upstream's RAs through ``NamespaceSpec.ra_uplink``), no
RAs, metadata or advertised prefixes on it, and the agent's sysctls and routes for it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.unit.test_compiler import (
    COMPUTE,
    NET_HOST,
    OTHER,
    SLAAC,
    network,
    port,
    router,
    router_port,
    subnet,
)
from tests.unit.test_reconcile import HOST_NS, current_plan, new_host
from v6fabric.agent.desired import interface_sysctls
from v6fabric.agent.layout import is_our_ns_link
from v6fabric.compiler import Snapshot, compile_host
from v6fabric.drivers.netlink import Route
from v6fabric.hoststate import codec
from v6fabric.hoststate.model import (
    HostState,
    NamespaceSpec,
    RouteSpec,
    bridge_name,
    router_namespace,
    vxlan_name,
)

TENANT = network(1)
TENANT_V6 = subnet(1, TENANT, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
EXTERNAL = {
    **network(2),
    "router:external": True,
    "provider:network_type": "flat",
    "provider:physical_network": "physnet1",
    "provider:segmentation_id": None,
}
EXT_V6 = subnet(2, EXTERNAL, "2001:db8:ff::/64", gateway_ip="2001:db8:ff::1")
EXT_V4 = subnet(3, EXTERNAL, "203.0.113.0/24", gateway_ip="203.0.113.1")
UPSTREAM_LL = "fe80::1"


def gateway_router(*ips: tuple[dict[str, Any], str], net: dict[str, Any] = EXTERNAL) -> tuple:
    """A router with an interface on the tenant network and a gateway on ``net``."""
    rtr = {
        **router(1),
        "external_gateway_info": {
            "network_id": net["id"],
            "enable_snat": True,
            "external_fixed_ips": [{"subnet_id": s["id"], "ip_address": a} for s, a in ips],
        },
    }
    leg = router_port(10, rtr, TENANT, (TENANT_V6, "2001:db8:1::1"))
    gw = port(11, net, *ips, owner="network:router_gateway", device_id=rtr["id"], host="")
    return rtr, leg, {**gw, "project_id": ""}


def world(*ips: tuple[dict[str, Any], str], **kwargs: Any) -> tuple[Snapshot, dict, dict]:
    rtr, leg, gw = gateway_router(*ips)
    snap = Snapshot.build(
        networks=[TENANT, EXTERNAL],
        subnets=[TENANT_V6, EXT_V6, EXT_V4],
        ports=[leg, gw],
        routers=[rtr],
        network_hosts=(NET_HOST,),
        **kwargs,
    )
    return snap, rtr, gw


def namespace(state: HostState, rtr: dict[str, Any]) -> NamespaceSpec:
    (found,) = [ns for ns in state.namespaces if ns.name == router_namespace(rtr["id"])]
    return found


def qg(gw: dict[str, Any]) -> str:
    return "qg-" + gw["id"][:11]


def test_the_gateway_leg_is_a_router_port_in_the_namespace_on_the_external_bridge():
    snap, rtr, gw = world((EXT_V6, "2001:db8:ff::10"), (EXT_V4, "203.0.113.10"))
    state = compile_host(snap, NET_HOST)
    (leg,) = [p for p in state.ports if p.port_id == gw["id"]]
    assert (leg.kind, leg.namespace, leg.ifname, leg.network_id) == (
        "router",
        router_namespace(rtr["id"]),
        qg(gw),
        EXTERNAL["id"],
    )
    assert leg.addresses == ("203.0.113.10/24", "2001:db8:ff::10/64")
    assert bridge_name(EXTERNAL["id"]) in {n.bridge for n in state.networks}
    (fw,) = [p for p in state.firewall.ports if p.port_id == gw["id"]]
    assert fw.role == "router" and not fw.port_security  # routes tenants' sources: unguarded


def test_default_route_via_the_external_subnets_gateway():
    snap, rtr, _gw = world((EXT_V6, "2001:db8:ff::10"), (EXT_V4, "203.0.113.10"))
    spec = namespace(compile_host(replace(snap, ipv6_gateway=UPSTREAM_LL), NET_HOST), rtr)
    assert spec.forwarding and spec.ra_uplink is None  # the subnet's gateway wins
    assert spec.routes == (
        RouteSpec("0.0.0.0/0", "203.0.113.1"),
        RouteSpec("::/0", "2001:db8:ff::1"),
    )


def test_a_link_local_subnet_gateway_is_routed_on_the_leg():
    snap, rtr, gw = world((EXT_V6, "2001:db8:ff::10"))
    linklocal = {**EXT_V6, "gateway_ip": UPSTREAM_LL}
    snap = replace(snap, subnets=(TENANT_V6, linklocal))
    spec = namespace(compile_host(snap, NET_HOST), rtr)
    assert spec.routes == (RouteSpec("::/0", UPSTREAM_LL, qg(gw)),)


def test_without_an_external_subnet_the_configured_next_hop_is_the_default():
    snap, rtr, gw = world(ipv6_gateway=UPSTREAM_LL)
    spec = namespace(compile_host(snap, NET_HOST), rtr)
    assert spec.routes == (RouteSpec("::/0", UPSTREAM_LL, qg(gw)),)
    assert spec.ra_uplink is None
    (leg,) = [p for p in compile_host(snap, NET_HOST).ports if p.port_id == gw["id"]]
    assert leg.addresses == ()


def test_without_subnet_or_next_hop_the_default_comes_from_the_upstreams_ras():
    snap, rtr, gw = world()
    spec = namespace(compile_host(snap, NET_HOST), rtr)
    assert spec.routes == () and spec.ra_uplink == qg(gw)
    # an IPv4-only external address changes nothing for IPv6
    snap4, rtr, gw = world((EXT_V4, "203.0.113.10"))
    spec = namespace(compile_host(snap4, NET_HOST), rtr)
    assert spec.routes == (RouteSpec("0.0.0.0/0", "203.0.113.1"),)
    assert spec.ra_uplink == qg(gw)


def test_a_leg_that_is_down_has_no_default_route_and_takes_no_ra():
    snap, rtr, gw = world((EXT_V6, "2001:db8:ff::10"))
    down = replace(snap, ports=(*snap.ports[:1], {**gw, "admin_state_up": False}))
    spec = namespace(compile_host(down, NET_HOST), rtr)
    assert spec.routes == () and spec.ra_uplink is None


def test_extra_routes_via_the_external_subnet_are_valid_and_an_extra_default_wins():
    rtr, leg, gw = gateway_router((EXT_V6, "2001:db8:ff::10"))
    rtr = {
        **rtr,
        "routes": [
            {"destination": "2001:db8:aa::/48", "nexthop": "2001:db8:ff::fe"},
            {"destination": "::/0", "nexthop": "2001:db8:ff::fd"},
        ],
    }
    snap = Snapshot.build(
        networks=[TENANT, EXTERNAL],
        subnets=[TENANT_V6, EXT_V6],
        ports=[leg, gw],
        routers=[rtr],
        network_hosts=(NET_HOST,),
    )
    spec = namespace(compile_host(snap, NET_HOST), rtr)
    assert spec.routes == (
        RouteSpec("::/0", "2001:db8:ff::fd"),
        RouteSpec("2001:db8:aa::/48", "2001:db8:ff::fe"),
    )
    no_subnet = replace(snap, ports=(leg, {**gw, "fixed_ips": []}), subnets=(TENANT_V6,))
    spec = namespace(compile_host(no_subnet, NET_HOST), rtr)
    assert spec.routes == () and spec.ra_uplink == qg(gw)  # next hops not on link: left out


def test_no_radvd_metadata_or_advertised_prefix_on_the_gateway_leg():
    advertised = {**EXT_V6, "ipv6_ra_mode": SLAAC, "ipv6_address_mode": SLAAC}
    snap, _rtr, _gw = world((advertised, "2001:db8:ff::10"))
    snap = replace(snap, subnets=(TENANT_V6, advertised))
    state = compile_host(snap, NET_HOST)
    (radvd,) = state.radvd
    assert [i.ifname for i in radvd.interfaces] == ["qr-" + snap.ports[0]["id"][:11]]
    assert all(p.cidr != "2001:db8:ff::/64" for i in radvd.interfaces for p in i.prefixes)
    assert [listener.ifname for listener in state.metadata.listeners] == [
        "qr-" + snap.ports[0]["id"][:11]
    ]


def test_a_router_with_only_a_gateway_gets_its_namespace_and_leg():
    snap, rtr, gw = world()
    only = replace(snap, ports=(gw,))
    state = compile_host(only, NET_HOST)
    assert [p.ifname for p in state.ports] == [qg(gw)]
    assert namespace(state, rtr).forwarding
    assert state.radvd == () and state.metadata.listeners == ()


def test_no_leg_without_external_gateway_info_or_for_a_router_that_is_down():
    snap, rtr, gw = world()
    cleared = replace(snap, routers=({**rtr, "external_gateway_info": None},))
    assert gw["id"] not in {p.port_id for p in compile_host(cleared, NET_HOST).ports}
    down = replace(snap, routers=({**rtr, "admin_state_up": False},))
    assert compile_host(down, NET_HOST).namespaces == ()


def test_the_leg_is_on_the_routers_host_only():
    snap, _rtr, gw = world(router_hosts={router(1)["id"]: OTHER})
    assert qg(gw) in {p.ifname for p in compile_host(snap, OTHER).ports}
    for host in (NET_HOST, COMPUTE):
        state = compile_host(snap, host)
        assert gw["id"] not in {p.port_id for p in state.ports}
        assert EXTERNAL["id"] not in {n.network_id for n in state.networks}
    # the binding says nothing: a leg bound elsewhere still runs on the router's host
    bound = replace(snap, ports=(snap.ports[0], {**gw, "binding:host_id": COMPUTE}))
    assert gw["id"] not in {p.port_id for p in compile_host(bound, COMPUTE).ports}


def test_the_physical_interface_joins_the_external_bridge_on_the_routers_host():
    snap, _rtr, _gw = world(physical_interfaces=[(NET_HOST, "physnet1", "eth1")])
    (net,) = [n for n in compile_host(snap, NET_HOST).networks if n.network_id == EXTERNAL["id"]]
    assert net.physical_interface == "eth1"


def test_a_vxlan_external_network_reaches_the_leg_at_the_routers_host():
    vxlan = {**network(3), "router:external": True}
    rtr, leg, gw = gateway_router(net=vxlan)
    far = port(30, vxlan, host=COMPUTE)
    snap = Snapshot.build(
        networks=[TENANT, vxlan],
        subnets=[TENANT_V6],
        ports=[leg, gw, far],
        routers=[rtr],
        network_hosts=(NET_HOST,),
        tunnel_endpoints={NET_HOST: "fd00::1", OTHER: "fd00::2", COMPUTE: "fd00::3"},
        router_hosts={rtr["id"]: OTHER},
    )
    device = vxlan_name(vxlan["id"])
    on_compute = compile_host(snap, COMPUTE)
    assert [(e.device, e.mac, e.remote) for e in on_compute.fdb] == [
        (device, gw["mac_address"], "fd00::2")
    ]
    on_router = compile_host(snap, OTHER)
    (net,) = [n for n in on_router.networks if n.network_id == vxlan["id"]]
    assert net.overlay is not None and net.overlay.remotes == ("fd00::3",)
    assert (device, far["mac_address"], "fd00::3") in {
        (e.device, e.mac, e.remote) for e in on_router.fdb
    }
    # the gateway sends no RAs: not an RA source for the overlay's RA guard
    (fw,) = [n for n in on_compute.firewall.networks if n.network_id == vxlan["id"]]
    assert fw.ra_sources == ()


def test_the_ra_uplink_and_routes_round_trip_through_the_codec():
    snap, _rtr, _gw = world()
    for state in (
        compile_host(snap, NET_HOST),
        compile_host(replace(snap, ipv6_gateway=UPSTREAM_LL), NET_HOST),
    ):
        assert codec.decode(codec.encode(state)) == state
        assert codec.content_hash(codec.decode(codec.encode(state))) == codec.content_hash(state)
    with_uplink = compile_host(snap, NET_HOST)
    without = compile_host(replace(snap, ipv6_gateway=UPSTREAM_LL), NET_HOST)
    assert codec.content_hash(with_uplink) != codec.content_hash(without)


# --- the agent ---------------------------------------------------------------------------


def test_the_ra_uplink_takes_ras_without_slaac_and_other_legs_take_none():
    snap, rtr, gw = world()
    state = compile_host(snap, NET_HOST)
    inside = interface_sysctls(state, HOST_NS)[router_namespace(rtr["id"])]
    assert inside[qg(gw)] == {"accept_ra": "2", "autoconf": "0", "accept_dad": "0"}
    assert inside["qr-" + snap.ports[0]["id"][:11]] == {"accept_ra": "0", "accept_dad": "0"}
    configured = compile_host(replace(snap, ipv6_gateway=UPSTREAM_LL), NET_HOST)
    inside = interface_sysctls(configured, HOST_NS)[router_namespace(rtr["id"])]
    assert inside[qg(gw)] == {"accept_ra": "0", "accept_dad": "0"}
    assert is_our_ns_link(qg(gw))


def test_the_agent_applies_the_leg_once_and_sweeps_it_when_the_gateway_goes():
    snap, rtr, gw = world(ipv6_gateway=UPSTREAM_LL)
    ns = router_namespace(rtr["id"])
    state = compile_host(snap, NET_HOST)
    fake, agent = new_host()
    assert agent.run_once(state).converged
    assert current_plan(agent, state) == []  # the link-local route is recognised
    view = fake.kernel.read(ns)
    assert qg(gw) in view.links
    assert view.routes == (Route("::/0", UPSTREAM_LL, qg(gw)),)
    sysctls = fake.kernel.read_sysctls(ns, [f"net.ipv6.conf.{qg(gw)}.accept_ra"])
    assert sysctls == {f"net.ipv6.conf.{qg(gw)}.accept_ra": "0"}
    by_ra = compile_host(replace(snap, ipv6_gateway=None, revision=3), NET_HOST)
    assert agent.run_once(by_ra).converged and current_plan(agent, by_ra) == []
    assert fake.kernel.read(ns).routes == ()
    key = f"net.ipv6.conf.{qg(gw)}"
    assert fake.kernel.read_sysctls(ns, [f"{key}.accept_ra", f"{key}.autoconf"]) == {
        f"{key}.accept_ra": "2",
        f"{key}.autoconf": "0",
    }
    cleared = replace(snap, routers=({**rtr, "external_gateway_info": None},), revision=4)
    gone = compile_host(cleared, NET_HOST)
    assert agent.run_once(gone).converged and current_plan(agent, gone) == []
    assert qg(gw) not in fake.kernel.read(ns).links
