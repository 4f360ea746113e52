"""Router namespaces: forwarding, extra routes and the routes behind route information options."""

from __future__ import annotations

from tests.unit.test_compiler import (
    N1,
    NET_HOST,
    R1,
    S4,
    S6,
    SLAAC,
    router,
    router_port,
    snapshot,
    subnet,
)
from v6fabric.compiler import compile_host
from v6fabric.hoststate.model import RouteSpec


def test_extra_routes_with_a_next_hop_off_every_interface_are_left_out():
    rtr = router(
        2,
        routes=[
            {"destination": "2001:db8:50::/48", "nexthop": "2001:db8:1::99"},
            {"destination": "2001:db8:51::/48", "nexthop": "2001:db8:77::1"},  # off-link
            {"destination": "10.50.0.0/16", "nexthop": "10.0.1.254"},
            {"destination": "0.0.0.0/0", "nexthop": "10.0.1.253"},
        ],
    )
    qr = router_port(12, rtr, N1, (S4, "10.0.1.1"), (S6, "2001:db8:1::1"))
    snap = snapshot(networks=[N1], subnets=[S4, S6], ports=[qr], routers=[rtr])
    (ns,) = compile_host(snap, NET_HOST).namespaces
    assert ns.forwarding is True
    assert ns.routes == (
        RouteSpec("0.0.0.0/0", "10.0.1.253"),
        RouteSpec("10.50.0.0/16", "10.0.1.254"),
        RouteSpec("2001:db8:50::/48", "2001:db8:1::99"),
    )


def test_router_forwards_what_its_route_information_options_announce():
    """A RIO names the router as next hop, so the router routes the host route's destination."""
    s6 = subnet(
        3,
        N1,
        "2001:db8:1::/64",
        ra=SLAAC,
        addr=SLAAC,
        host_routes=[
            {"destination": "2001:db8:60::/48", "nexthop": "2001:db8:1::60"},
            {"destination": "2001:db8:61::/48", "nexthop": "2001:db8:1::1"},  # the router itself
            {"destination": "2001:db8:99::/48", "nexthop": "2001:db8:1::70"},  # extra route wins
            {"destination": "::/0", "nexthop": "2001:db8:1::80"},
        ],
    )
    qr = router_port(12, R1, N1, (s6, "2001:db8:1::1"))
    snap = snapshot(networks=[N1], subnets=[s6], ports=[qr], routers=[R1])
    (ns,) = compile_host(snap, NET_HOST).namespaces
    assert ns.routes == (
        RouteSpec("2001:db8:60::/48", "2001:db8:1::60"),
        RouteSpec("2001:db8:99::/48", "2001:db8:1::fe"),
    )
