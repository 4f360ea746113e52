"""A router's external gateway (R4): its default route out of the ``qg-`` leg.

The order is Neutron's L3 agent's:

1. the gateway port has an address on an IPv6 subnet of the external network that has a
   ``gateway_ip``: ``::/0`` via that gateway (with the leg as device if it is a link-local);
2. else the server's configured upstream next hop (``Snapshot.ipv6_gateway``, the agent option
   ``ipv6_gateway`` of Neutron's): ``::/0`` via it, on the leg (a link-local needs a device);
3. else no route of ours: the leg is the namespace's ``ra_uplink``, so the kernel takes the
   default route from the upstream router's RAs (``accept_ra=2``, since the namespace
   forwards). This is what makes a gateway work on an external network with no IPv6 subnet.

IPv4, where the port has an address on an IPv4 subnet with a gateway: ``0.0.0.0/0`` via it.

No NAT of any kind, whatever ``enable_snat`` says: IPv6 is routed end to end, the tenants'
prefixes are global (or at least unique) and their addresses are what the far side sees. The
upstream router needs a route per tenant prefix via the leg's address (its link-local or an
external address), which the API shows; the router never hides a tenant behind its own address.
"""

from __future__ import annotations

import ipaddress

from v6fabric.compiler.index import Index, PortView
from v6fabric.compiler.links import effective_up, gateway_ifname
from v6fabric.domain.addresses import IPAddress, IPNetwork, parse_ip

DEFAULT: dict[int, IPNetwork] = {
    6: ipaddress.IPv6Network("::/0"),
    4: ipaddress.IPv4Network("0.0.0.0/0"),
}
DefaultRoute = tuple[IPNetwork, IPAddress, str | None]  # destination, next hop, device


def uplink(
    index: Index, port: PortView | None, ipv6_gateway: str | None
) -> tuple[list[DefaultRoute], str | None]:
    """The default routes a router with gateway ``port`` installs, and its ``ra_uplink`` (the
    leg, when the upstream's RAs must give the IPv6 default route). Nothing while the leg is
    down: it cannot carry the route, and no RA reaches it."""
    if port is None or not effective_up(index, port):
        return [], None
    leg = gateway_ifname(port)
    routes: list[DefaultRoute] = []
    ipv6 = _subnet_gateway(index, port, 6)
    configured = parse_ip(ipv6_gateway)
    if ipv6 is None and configured is not None and configured.version == 6:
        ipv6 = configured
    if ipv6 is not None:
        device = leg if ipv6.is_link_local or ipv6 is configured else None
        routes.append((DEFAULT[6], ipv6, device))
    ipv4 = _subnet_gateway(index, port, 4)
    if ipv4 is not None:
        routes.append((DEFAULT[4], ipv4, None))
    return routes, (None if ipv6 is not None else leg)


def _subnet_gateway(index: Index, port: PortView, version: int) -> IPAddress | None:
    """The gateway of the first subnet (by prefix) of ``version`` the port has an address on."""
    for subnet in index.port_subnets(port):
        if subnet.ip_version == version and subnet.gateway_ip is not None:
            return subnet.gateway_ip
    return None
