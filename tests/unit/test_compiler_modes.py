"""The ``ipv6_ra_mode`` x ``ipv6_address_mode`` matrix: RA flags, prefixes and DHCP ranges per
combination (R6), on a router and on an isolated network, and the RA content beyond Neutron (X4).
"""

from __future__ import annotations

import pytest

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
from v6fabric.compiler.ra import METADATA_ROUTE
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.hoststate.model import RaInterface, RaPrefix, RaRoute

EUI64 = "2001:db8:1:0:f816:3eff:fe00:14"  # of port 20's MAC fa:16:3e:00:00:14
CHOSEN = "2001:db8:1::14"
AUTO = {SLAAC, STATELESS}

# (ra_mode, address_mode) -> ((M, O, A) of the RA or None for no RA, dnsmasq range mode or None)
MATRIX = {
    (None, None): (None, "static"),
    (None, SLAAC): (None, None),
    (None, STATEFUL): (None, "static"),
    (None, STATELESS): (None, "stateless"),
    (SLAAC, None): ((False, False, True), None),
    # beyond Neutron: served by the mode the RA announces (R6: the guest gets what the API says)
    (STATEFUL, None): ((True, True, False), "static"),
    (STATELESS, None): ((False, True, True), "stateless"),
    (SLAAC, SLAAC): ((False, False, True), None),
    (STATEFUL, STATEFUL): ((True, True, False), "static"),
    (STATELESS, STATELESS): ((False, True, True), "stateless"),
}
# Neutron refuses a router interface on a subnet with only ipv6_address_mode set.
CASES = [
    pytest.param(
        combo, routed, id=f"ra={combo[0]},addr={combo[1]},{'router' if routed else 'isolated'}"
    )
    for combo in MATRIX
    for routed in (True, False)
    if not (routed and combo[0] is None and combo[1] is not None)
]


def mode_world(ra: str | None, addr: str | None, routed: bool):
    net = network(1)
    sub = subnet(1, net, "2001:db8:1::/64", ra=ra, addr=addr, dns=["2001:db8::53"])
    auto = ra in AUTO or addr in AUTO
    client = port(20, net, (sub, EUI64 if auto else CHOSEN))
    ns = dhcp_port(11, net, (sub, "2001:db8:1:0:f816:3eff:fe00:b" if auto else "2001:db8:1::2"))
    rtr = router(1)
    ports = [client, ns]
    if routed:
        ports.append(router_port(10, rtr, net, (sub, "2001:db8:1::1")))
    snap = snapshot(
        networks=[net], subnets=[sub], ports=ports, routers=[rtr], dns_domain="example.test."
    )
    return snap, net, sub, rtr, client


@pytest.mark.parametrize(("combo", "routed"), CASES)
def test_mode_matrix(combo, routed):
    ra, addr = combo
    flags, range_mode = MATRIX[combo]
    snap, net, sub, rtr, client = mode_world(ra, addr, routed)
    state = compile_host(snap, NET_HOST)

    if flags is None:
        assert state.radvd == ()
    else:
        (radvd,) = state.radvd
        (interface,) = radvd.interfaces
        managed, other, autonomous = flags
        if routed:
            assert radvd.namespace == "v6r-" + rtr["id"]
            assert interface.ifname.startswith("qr-")
            assert interface.default_lifetime is None
        else:
            assert radvd.namespace == "v6d-" + net["id"]
            assert interface.ifname.startswith("ns-")
            assert interface.default_lifetime == 0
        assert (interface.managed, interface.other) == (managed, other)
        assert interface.prefixes == (RaPrefix("2001:db8:1::/64", autonomous=autonomous),)
        assert interface.rdnss == ("2001:db8::53",)  # in every mode, beyond Neutron
        assert interface.dnssl == ("example.test",)
        assert interface.mtu == 1500

    if range_mode is None:
        assert state.dnsmasq == ()
    else:
        (dnsmasq,) = state.dnsmasq
        (rng,) = dnsmasq.ranges
        assert (rng.tag, rng.ip_version, rng.network, rng.prefixlen, rng.mode) == (
            "subnet-" + sub["id"],
            6,
            "2001:db8:1::",
            64,
            range_mode,
        )
        hosts = [(h.mac, h.addresses) for h in dnsmasq.hosts]
        # static: the reservation; stateless: the SLAAC address puts the host in the tag
        address = CHOSEN if range_mode == "static" else EUI64
        assert hosts == [(client["mac_address"], (address,))]
        options = {(o.name, o.value) for o in dnsmasq.options}
        assert options == {("dns-server", "[2001:db8::53]"), ("domain-search", "example.test")}
    # the DHCP namespace and port exist whatever the modes
    assert "v6d-" + net["id"] in {n.name for n in state.namespaces}


def test_two_ipv6_subnets_on_one_router_port_give_one_interface_with_both_prefixes():
    net = network(1)
    a = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC, dns=["2001:db8::53"])
    b = subnet(2, net, "2001:db8:2::/64", ra=STATEFUL, addr=STATEFUL, dns=["2001:db8::54"])
    rtr = router(1)
    qr = router_port(10, rtr, net, (b, "2001:db8:2::1"), (a, "2001:db8:1::1"))
    snap = snapshot(networks=[net], subnets=[b, a], ports=[qr], routers=[rtr])
    state = compile_host(snap, NET_HOST)
    (qr_spec,) = state.ports
    assert qr_spec.addresses == ("2001:db8:1::1/64", "2001:db8:2::1/64")
    (radvd,) = state.radvd
    assert radvd.interfaces == (
        RaInterface(
            ifname="qr-" + qr["id"][:11],
            managed=True,
            other=True,
            mtu=1500,
            prefixes=(
                RaPrefix("2001:db8:1::/64", autonomous=True),
                RaPrefix("2001:db8:2::/64", autonomous=False),
            ),
            rdnss=("2001:db8::53", "2001:db8::54"),
            routes=(METADATA_ROUTE,),
            source=str(eui64_link_local(qr["mac_address"])),  # not the metadata address
        ),
    )


def test_subnets_without_ra_mode_get_no_prefix_on_a_mixed_router_port():
    net = network(1)
    a = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    legacy = subnet(2, net, "2001:db8:2::/64")
    v4 = subnet(3, net, "10.0.0.0/24")
    rtr = router(1)
    qr = router_port(
        10, rtr, net, (a, "2001:db8:1::1"), (legacy, "2001:db8:2::1"), (v4, "10.0.0.1")
    )
    snap = snapshot(networks=[net], subnets=[a, legacy, v4], ports=[qr], routers=[rtr])
    (radvd,) = compile_host(snap, NET_HOST).radvd
    assert [p.cidr for p in radvd.interfaces[0].prefixes] == ["2001:db8:1::/64"]


def test_router_with_two_networks_has_one_radvd_with_two_interfaces():
    n1, n2 = network(1, mtu=1400), network(2)
    a = subnet(1, n1, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    b = subnet(2, n2, "2001:db8:2::/64", ra=STATELESS, addr=STATELESS)
    rtr = router(1)
    q1 = router_port(10, rtr, n1, (a, "2001:db8:1::1"))
    q2 = router_port(11, rtr, n2, (b, "2001:db8:2::1"))
    snap = snapshot(networks=[n2, n1], subnets=[b, a], ports=[q2, q1], routers=[rtr])
    (radvd,) = compile_host(snap, NET_HOST).radvd
    assert [(i.ifname, i.mtu, i.other) for i in radvd.interfaces] == [
        ("qr-" + q1["id"][:11], 1400, False),
        ("qr-" + q2["id"][:11], 1500, True),
    ]


def test_rdnss_is_unique_in_subnet_order_and_at_most_three():
    net = network(1)
    a = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC, dns=["2001:db8::3", "2001:db8::1"])
    b = subnet(
        2,
        net,
        "2001:db8:2::/64",
        ra=SLAAC,
        addr=SLAAC,
        dns=["2001:db8::1", "::", "2001:db8::9", "2001:db8::7"],
    )
    rtr = router(1)
    qr = router_port(10, rtr, net, (b, "2001:db8:2::1"), (a, "2001:db8:1::1"))
    snap = snapshot(networks=[net], subnets=[b, a], ports=[qr], routers=[rtr])
    (radvd,) = compile_host(snap, NET_HOST).radvd
    assert radvd.interfaces[0].rdnss == ("2001:db8::3", "2001:db8::1", "2001:db8::9")
    assert radvd.interfaces[0].dnssl == ()


def test_host_routes_become_route_information_options_on_a_router():
    net = network(1)
    routes = [
        {"destination": "2001:db8:70::/48", "nexthop": "2001:db8:1::70"},
        {"destination": "::/0", "nexthop": "2001:db8:1::80"},
        {"destination": "2001:db8:60::/56", "nexthop": "2001:db8:1::60"},
    ]
    a = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC, host_routes=routes)
    rtr = router(1)
    qr = router_port(10, rtr, net, (a, "2001:db8:1::1"))
    snap = snapshot(networks=[net], subnets=[a], ports=[qr], routers=[rtr])
    (radvd,) = compile_host(snap, NET_HOST).radvd
    assert radvd.interfaces[0].routes == (
        RaRoute("2001:db8:60::/56"),
        RaRoute("2001:db8:70::/48"),
        RaRoute("fe80::a9fe:a9fe/128"),  # the metadata service, in the router's namespace
    )


def test_isolated_network_ra_has_lifetime_zero_and_only_the_metadata_route():
    net = network(1)
    routes = [{"destination": "2001:db8:70::/48", "nexthop": "2001:db8:1::70"}]
    a = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC, host_routes=routes)
    ns = dhcp_port(11, net, (a, "2001:db8:1:0:f816:3eff:fe00:b"))
    snap = snapshot(networks=[net], subnets=[a], ports=[ns], dns_domain="example.test")
    state = compile_host(snap, NET_HOST)
    (radvd,) = state.radvd
    assert radvd.namespace == "v6d-" + net["id"]
    assert radvd.interfaces == (
        RaInterface(
            ifname="ns-" + ns["id"][:11],
            managed=False,
            other=False,
            mtu=1500,
            prefixes=(RaPrefix("2001:db8:1::/64", autonomous=True),),
            dnssl=("example.test",),
            routes=(RaRoute("fe80::a9fe:a9fe/128"),),  # the v6d- namespace serves it
            default_lifetime=0,
            source=str(eui64_link_local(ns["mac_address"])),
        ),
    )
    assert state.dnsmasq == ()  # SLAAC: RA only, no DHCP


def test_isolated_network_without_a_dhcp_port_gets_no_ra():
    net = network(1)
    a = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    snap = snapshot(networks=[net], subnets=[a], ports=[port(20, net, (a, EUI64))])
    assert compile_host(snap, NET_HOST).radvd == ()


def test_routed_and_isolated_subnets_of_one_network_are_advertised_by_each():
    net = network(1)
    routed = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    alone = subnet(2, net, "2001:db8:2::/64", ra=STATELESS, addr=STATELESS)
    rtr = router(1)
    qr = router_port(10, rtr, net, (routed, "2001:db8:1::1"))
    ns = dhcp_port(11, net, (routed, "2001:db8:1::b"), (alone, "2001:db8:2::b"))
    snap = snapshot(networks=[net], subnets=[routed, alone], ports=[qr, ns], routers=[rtr])
    radvd = {spec.namespace: spec for spec in compile_host(snap, NET_HOST).radvd}
    assert [p.cidr for p in radvd["v6r-" + rtr["id"]].interfaces[0].prefixes] == ["2001:db8:1::/64"]
    isolated = radvd["v6d-" + net["id"]].interfaces[0]
    assert [p.cidr for p in isolated.prefixes] == ["2001:db8:2::/64"]
    assert (isolated.other, isolated.default_lifetime) == (True, 0)


@pytest.mark.parametrize("down", ["router", "port"])
def test_subnet_of_a_router_or_port_that_is_down_is_advertised_from_the_dhcp_namespace(down):
    net = network(1)
    a = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    rtr = router(1, admin_state_up=down != "router")
    qr = router_port(10, rtr, net, (a, "2001:db8:1::1"))
    qr["admin_state_up"] = down != "port"
    ns = dhcp_port(11, net, (a, "2001:db8:1::b"))
    snap = snapshot(networks=[net], subnets=[a], ports=[qr, ns], routers=[rtr])
    (radvd,) = compile_host(snap, NET_HOST).radvd
    assert radvd.namespace == "v6d-" + net["id"]
    assert radvd.interfaces[0].default_lifetime == 0


def test_network_admin_down_runs_no_daemons_but_keeps_its_namespace():
    net = network(1, admin_state_up=False)
    a = subnet(1, net, "2001:db8:1::/64", ra=STATEFUL, addr=STATEFUL)
    ns = dhcp_port(11, net, (a, "2001:db8:1::2"))
    snap = snapshot(networks=[net], subnets=[a], ports=[ns, port(20, net, (a, CHOSEN))])
    state = compile_host(snap, NET_HOST)
    assert state.radvd == state.dnsmasq == ()
    assert [n.name for n in state.namespaces] == ["v6d-" + net["id"]]
    assert state.ports[0].admin_up is False


def test_slaac_only_network_on_a_router_keeps_its_dhcp_namespace_without_daemons():
    net = network(1)
    a = subnet(1, net, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
    rtr = router(1)
    qr = router_port(10, rtr, net, (a, "2001:db8:1::1"))
    ns = dhcp_port(11, net, (a, "2001:db8:1::b"))
    snap = snapshot(networks=[net], subnets=[a], ports=[qr, ns], routers=[rtr])
    state = compile_host(snap, NET_HOST)
    assert [spec.namespace for spec in state.radvd] == ["v6r-" + rtr["id"]]
    assert state.dnsmasq == ()
    assert {n.name for n in state.namespaces} == {"v6d-" + net["id"], "v6r-" + rtr["id"]}
    assert {p.kind for p in state.ports} == {"dhcp", "router"}
