"""dnsmasq specs: ranges, MAC reservations and options, dual stack (R5, R7)."""

from __future__ import annotations

from tests.unit.test_compiler import (
    NET_HOST,
    SLAAC,
    STATEFUL,
    STATELESS,
    dhcp_port,
    network,
    port,
    router,
    router_port,
    snapshot,
    subnet,
)
from v6fabric.compiler import compile_host
from v6fabric.hoststate.model import DhcpHost, DhcpOption, DhcpRange, DnsmasqSpec


def only_dnsmasq(snap) -> DnsmasqSpec:
    (spec,) = compile_host(snap, NET_HOST).dnsmasq
    return spec


def test_dual_stack_network():
    net = network(1)
    v4 = subnet(1, net, "10.0.0.0/24", dns=["10.0.0.53", "10.0.0.54"])
    v6 = subnet(2, net, "2001:db8:1::/64", ra=STATEFUL, addr=STATEFUL, dns=["2001:db8::53"])
    rtr = router(1)
    qr = router_port(10, rtr, net, (v4, "10.0.0.1"), (v6, "2001:db8:1::1"))
    ns = dhcp_port(11, net, (v4, "10.0.0.2"), (v6, "2001:db8:1::2"))
    vm = port(20, net, (v6, "2001:db8:1::20"), (v4, "10.0.0.20"))
    snap = snapshot(
        networks=[net], subnets=[v6, v4], ports=[vm, ns, qr], routers=[rtr], dns_domain="cloud.test"
    )
    state = compile_host(snap, NET_HOST)
    tag4, tag6 = "subnet-" + v4["id"], "subnet-" + v6["id"]
    assert state.dnsmasq == (
        DnsmasqSpec(
            namespace="v6d-" + net["id"],
            network_id=net["id"],
            interface="ns-" + ns["id"][:11],
            ranges=(
                DhcpRange(tag4, 4, "10.0.0.0", 24, "static"),
                DhcpRange(tag6, 6, "2001:db8:1::", 64, "static"),
            ),
            hosts=(DhcpHost(vm["mac_address"], ("10.0.0.20", "2001:db8:1::20"), "host-10-0-0-20"),),
            options=tuple(
                sorted(
                    [
                        DhcpOption(tag4, 4, "dns-server", "10.0.0.53,10.0.0.54"),
                        DhcpOption(tag4, 4, "domain-search", "cloud.test"),
                        DhcpOption(tag4, 4, "router", "10.0.0.1"),
                        DhcpOption(tag4, 4, "mtu", "1500"),
                        DhcpOption(
                            tag4,
                            4,
                            "classless-static-route",
                            "169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1",
                        ),
                        DhcpOption(tag6, 6, "dns-server", "[2001:db8::53]"),
                        DhcpOption(tag6, 6, "domain-search", "cloud.test"),
                    ],
                    key=lambda o: (o.tag, o.ip_version, o.name, o.value),
                )
            ),
        ),
    )
    (radvd,) = state.radvd
    assert [p.cidr for p in radvd.interfaces[0].prefixes] == ["2001:db8:1::/64"]
    qr_spec = next(p for p in state.ports if p.kind == "router")
    assert qr_spec.addresses == ("10.0.0.1/24", "2001:db8:1::1/64")


def test_dual_stack_with_slaac_reserves_only_the_ipv4_address():
    net = network(1)
    v4 = subnet(1, net, "10.0.0.0/24")
    v6 = subnet(2, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    ns = dhcp_port(11, net, (v4, "10.0.0.2"), (v6, "2001:db8:1:0:f816:3eff:fe00:b"))
    vm = port(20, net, (v4, "10.0.0.20"), (v6, "2001:db8:1:0:f816:3eff:fe00:14"))
    spec = only_dnsmasq(snapshot(networks=[net], subnets=[v4, v6], ports=[ns, vm]))
    assert [r.ip_version for r in spec.ranges] == [4]
    assert spec.hosts == (DhcpHost(vm["mac_address"], ("10.0.0.20",), "host-10-0-0-20"),)


def test_host_lines_for_client_ports_with_addresses_on_served_subnets():
    net = network(1)
    stateful = subnet(1, net, "2001:db8:1::/64", ra=STATEFUL, addr=STATEFUL)
    stateless = subnet(2, net, "2001:db8:2::/64", ra=STATELESS, addr=STATELESS)
    slaac = subnet(3, net, "2001:db8:3::/64", ra=SLAAC, addr=SLAAC)
    rtr = router(1)
    qr = router_port(10, rtr, net, (stateful, "2001:db8:1::1"), (stateless, "2001:db8:2::1"))
    ns = dhcp_port(11, net, (stateful, "2001:db8:1::2"), (stateless, "2001:db8:2::2"))
    fip = port(12, net, (stateful, "2001:db8:1::12"), owner="network:floatingip")
    vm = port(
        20,
        net,
        (stateless, "2001:db8:2:0:f816:3eff:fe00:14"),
        (stateful, "2001:db8:1::20"),
        (slaac, "2001:db8:3:0:f816:3eff:fe00:14"),
    )
    only_stateless = port(21, net, (stateless, "2001:db8:2:0:f816:3eff:fe00:15"))
    only_slaac = port(22, net, (slaac, "2001:db8:3:0:f816:3eff:fe00:16"))
    two = port(23, net, (stateful, "2001:db8:1::a"), (stateful, "2001:db8:1::9"))
    down = port(24, net, (stateful, "2001:db8:1::24"), admin_state_up=False)
    snap = snapshot(
        networks=[net],
        subnets=[stateful, stateless, slaac],
        ports=[qr, ns, fip, vm, only_stateless, only_slaac, two, down],
        routers=[rtr],
    )
    spec = only_dnsmasq(snap)
    assert [(r.tag, r.mode) for r in spec.ranges] == [
        ("subnet-" + stateful["id"], "static"),
        ("subnet-" + stateless["id"], "stateless"),
    ]
    assert spec.hosts == tuple(
        sorted(
            [
                DhcpHost(
                    vm["mac_address"],
                    ("2001:db8:1::20", "2001:db8:2:0:f816:3eff:fe00:14"),
                    "host-2001-db8-1--20",
                ),
                DhcpHost(
                    only_stateless["mac_address"],
                    ("2001:db8:2:0:f816:3eff:fe00:15",),
                    "host-2001-db8-2-0-f816-3eff-fe00-15",
                ),
                DhcpHost(
                    two["mac_address"], ("2001:db8:1::9", "2001:db8:1::a"), "host-2001-db8-1--9"
                ),
                DhcpHost(down["mac_address"], ("2001:db8:1::24",), "host-2001-db8-1--24"),
            ],
            key=lambda h: h.mac,
        )
    )


def test_ipv4_routes_lead_to_metadata_add_the_default_route_and_no_gateway_suppresses_router():
    net = network(1)
    routed = subnet(
        1, net, "10.0.0.0/24", host_routes=[{"destination": "10.8.0.0/16", "nexthop": "10.0.0.254"}]
    )
    bare = subnet(2, net, "10.0.1.0/24", gateway_ip=None)
    own_default = subnet(
        3,
        net,
        "10.0.2.0/24",
        host_routes=[
            {"destination": "0.0.0.0/0", "nexthop": "10.0.2.250"},
            {"destination": "10.9.0.0/16", "nexthop": "10.0.2.254"},
        ],
    )
    ns = dhcp_port(11, net, (routed, "10.0.0.2"), (bare, "10.0.1.2"), (own_default, "10.0.2.2"))
    spec = only_dnsmasq(snapshot(networks=[net], subnets=[routed, bare, own_default], ports=[ns]))
    options = {(o.tag, o.name): o.value for o in spec.options}
    t1, t2, t3 = ("subnet-" + s["id"] for s in (routed, bare, own_default))
    metadata = "169.254.169.254/32"
    assert options == {
        (t1, "router"): "10.0.0.1",
        (t1, "classless-static-route"): (
            f"{metadata},10.0.0.2,10.8.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1"
        ),
        (t2, "router"): "",
        (t2, "classless-static-route"): f"{metadata},10.0.1.2",  # no gateway: no default
        (t3, "router"): "10.0.2.1",
        **{(t, "mtu"): "1500" for t in (t1, t2, t3)},
        (t3, "classless-static-route"): (
            f"{metadata},10.0.2.2,0.0.0.0/0,10.0.2.250,10.9.0.0/16,10.0.2.254"
        ),
    }


def test_a_host_route_to_the_metadata_address_replaces_ours():
    net = network(1)
    own = [{"destination": "169.254.169.254/32", "nexthop": "10.0.0.9"}]
    v4 = subnet(1, net, "10.0.0.0/24", host_routes=own)
    ns = dhcp_port(11, net, (v4, "10.0.0.2"))
    spec = only_dnsmasq(snapshot(networks=[net], subnets=[v4], ports=[ns]))
    (routes,) = [o.value for o in spec.options if o.name == "classless-static-route"]
    assert routes == "169.254.169.254/32,10.0.0.9,0.0.0.0/0,10.0.0.1"


def test_subnets_without_dhcp_or_shorter_than_64_get_no_range():
    net = network(1)
    off = subnet(1, net, "10.0.0.0/24", enable_dhcp=False)
    wide = subnet(2, net, "2001:db8:1::/56")
    narrow = subnet(3, net, "2001:db8:2::/120", ra=STATEFUL, addr=STATEFUL)
    ns = dhcp_port(11, net, (wide, "2001:db8:1::2"), (narrow, "2001:db8:2::2"))
    spec = only_dnsmasq(snapshot(networks=[net], subnets=[off, wide, narrow], ports=[ns]))
    assert [(r.network, r.prefixlen) for r in spec.ranges] == [("2001:db8:2::", 120)]


def test_network_with_only_slaac_subnets_has_no_dnsmasq():
    net = network(1)
    a = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    b = subnet(2, net, "2001:db8:2::/64", ra=SLAAC)
    ns = dhcp_port(11, net, (a, "2001:db8:1::b"), (b, "2001:db8:2::b"))
    state = compile_host(snapshot(networks=[net], subnets=[a, b], ports=[ns]), NET_HOST)
    assert state.dnsmasq == ()
    assert len(state.radvd) == 1  # isolated: the v6d- namespace advertises both prefixes


def test_ra_only_stateful_subnet_is_served_by_dhcpv6():
    """Beyond Neutron: the RA says M=1, so a DHCPv6 server must answer with the API's address."""
    net = network(1)
    b = subnet(2, net, "2001:db8:2::/64", ra=STATEFUL)
    ns = dhcp_port(11, net, (b, "2001:db8:2::b"))
    state = compile_host(snapshot(networks=[net], subnets=[b], ports=[ns]), NET_HOST)
    (spec,) = state.dnsmasq
    assert [r.mode for r in spec.ranges] == ["static"]


def test_no_dhcp_port_means_no_dnsmasq():
    net = network(1)
    a = subnet(1, net, "2001:db8:1::/64", ra=STATEFUL, addr=STATEFUL)
    snap = snapshot(networks=[net], subnets=[a], ports=[port(20, net, (a, "2001:db8:1::20"))])
    assert compile_host(snap, NET_HOST).dnsmasq == ()


def test_dhcp_port_admin_down_runs_no_daemons():
    net = network(1)
    a = subnet(1, net, "2001:db8:1::/64", ra=STATEFUL, addr=STATEFUL)
    ns = dict(dhcp_port(11, net, (a, "2001:db8:1::2")), admin_state_up=False)
    state = compile_host(snapshot(networks=[net], subnets=[a], ports=[ns]), NET_HOST)
    assert state.dnsmasq == state.radvd == ()
    assert [(p.kind, p.admin_up) for p in state.ports] == [("dhcp", False)]
