"""Namespaces and their routes: a forwarding ``v6r-`` namespace per router, a ``v6d-`` per
DHCP network.

A router's routes are its extra routes (``extraroute``) plus, beyond Neutron, the IPv6 host
routes its RAs announce as route information options: a RIO tells workloads "send traffic for
this prefix to me", so the router must know where to forward it; plus the default routes of its
external gateway (``gateway``), where no extra route has taken the default destination.
"""

from __future__ import annotations

import ipaddress

from v6fabric.compiler.gateway import uplink
from v6fabric.compiler.index import Index, PortView, network_key
from v6fabric.compiler.links import effective_up
from v6fabric.compiler.ra import advertised
from v6fabric.domain.addresses import IPAddress, IPNetwork
from v6fabric.hoststate.model import NamespaceSpec, RouteSpec, dhcp_namespace, router_namespace

IPV6_DEFAULT = ipaddress.IPv6Network("::/0")


def dhcp_namespaces(dhcp: dict[str, tuple[PortView, ...]]) -> list[NamespaceSpec]:
    """One ``v6d-`` namespace per network with a DHCP port, even when no daemon runs in it
    (Neutron keeps it too, and the port stays plumbed)."""
    return [NamespaceSpec(name=dhcp_namespace(network_id)) for network_id in dhcp]


def router_namespaces(
    index: Index,
    routers: dict[str, tuple[PortView, ...]],
    gateways: dict[str, PortView] | None = None,
    ipv6_gateway: str | None = None,
) -> list[NamespaceSpec]:
    """One forwarding ``v6r-`` namespace per router on this host (``routers``: its interfaces,
    possibly none when it has only a gateway; ``gateways``: its gateway port, if any).

    A route whose next hop is not inside a subnet of one of the router's legs that are up
    (interfaces and gateway) is left out: the kernel refuses it (no on-link next hop). The API
    validates next hops when routes are set; this only keeps an agent from retrying an
    impossible route forever after an interface went down.
    """
    gateways = gateways or {}
    specs = []
    for router_id, ports in routers.items():
        up = [port for port in ports if effective_up(index, port)]
        gateway = gateways.get(router_id)
        legs = [*up, gateway] if gateway is not None and effective_up(index, gateway) else up
        connected = [s.cidr for port in legs for s in index.port_subnets(port)]
        own = {ip.address for port in legs for ip in port.fixed_ips}
        routes = [
            (destination, nexthop)
            for destination, nexthop in index.routers[router_id].routes
            if _on_link(nexthop, connected)
        ]
        covered = {destination for destination, _nexthop in routes}
        # Host routes behind the router's RIOs: for a destination no extra route covers, the
        # lowest next hop wins (one route per destination); a next hop that is the router
        # itself adds nothing.
        announced = sorted(
            (
                (destination, nexthop)
                for port in up
                for subnet in advertised(index.port_subnets(port))
                for destination, nexthop in subnet.host_routes
                if destination.prefixlen > 0 and nexthop not in own and _on_link(nexthop, connected)
            ),
            key=_route_key,
        )
        for destination, nexthop in announced:
            if destination not in covered:
                covered.add(destination)
                routes.append((destination, nexthop))
        found = {
            (destination, nexthop): RouteSpec(destination=str(destination), gateway=str(nexthop))
            for destination, nexthop in routes
        }
        # An extra route to a default destination is the operator's choice: it stands, and
        # for ::/0 no RA route competes with it either.
        defaults, ra_uplink = uplink(index, gateway, ipv6_gateway)
        for destination, nexthop, device in defaults:
            if destination not in covered:
                found[(destination, nexthop)] = RouteSpec(str(destination), str(nexthop), device)
        if IPV6_DEFAULT in covered:
            ra_uplink = None
        specs.append(
            NamespaceSpec(
                name=router_namespace(router_id),
                forwarding=True,
                routes=tuple(found[key] for key in sorted(found, key=_route_key)),
                ra_uplink=ra_uplink,
            )
        )
    return specs


def _on_link(nexthop: IPAddress, connected: list[IPNetwork]) -> bool:
    return any(nexthop.version == cidr.version and nexthop in cidr for cidr in connected)


def _route_key(route: tuple[IPNetwork, IPAddress]) -> tuple[int, int, int, int]:
    destination, nexthop = route
    return (*network_key(destination), int(nexthop))
