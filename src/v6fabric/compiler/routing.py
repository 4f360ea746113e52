"""Namespaces and their routes: a forwarding ``v6r-`` namespace per router, a ``v6d-`` per
DHCP network.

A router's routes are its extra routes (``extraroute``) plus, beyond Neutron, the IPv6 host
routes its RAs announce as route information options: a RIO tells workloads "send traffic for
this prefix to me", so the router must know where to forward it.
"""

from __future__ import annotations

from v6fabric.compiler.index import Index, PortView, network_key
from v6fabric.compiler.links import effective_up
from v6fabric.compiler.ra import advertised
from v6fabric.domain.addresses import IPAddress, IPNetwork
from v6fabric.hoststate.model import NamespaceSpec, RouteSpec, dhcp_namespace, router_namespace


def dhcp_namespaces(dhcp: dict[str, tuple[PortView, ...]]) -> list[NamespaceSpec]:
    """One ``v6d-`` namespace per network with a DHCP port, even when no daemon runs in it
    (Neutron keeps it too, and the port stays plumbed)."""
    return [NamespaceSpec(name=dhcp_namespace(network_id)) for network_id in dhcp]


def router_namespaces(
    index: Index, routers: dict[str, tuple[PortView, ...]]
) -> list[NamespaceSpec]:
    """One forwarding ``v6r-`` namespace per router with an interface on this host.

    A route whose next hop is not inside a subnet of one of the router's interfaces that are up
    is left out: the kernel refuses it (no on-link next hop). The API validates next hops when
    routes are set; this only keeps an agent from retrying an impossible route forever after an
    interface went down.
    """
    specs = []
    for router_id, ports in routers.items():
        up = [port for port in ports if effective_up(index, port)]
        connected = [s.cidr for port in up for s in index.port_subnets(port)]
        own = {ip.address for port in up for ip in port.fixed_ips}
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
        specs.append(
            NamespaceSpec(
                name=router_namespace(router_id),
                forwarding=True,
                routes=tuple(
                    RouteSpec(destination=str(destination), gateway=str(nexthop))
                    for destination, nexthop in sorted(set(routes), key=_route_key)
                ),
            )
        )
    return specs


def _on_link(nexthop: IPAddress, connected: list[IPNetwork]) -> bool:
    return any(nexthop.version == cidr.version and nexthop in cidr for cidr in connected)


def _route_key(route: tuple[IPNetwork, IPAddress]) -> tuple[int, int, int, int]:
    destination, nexthop = route
    return (*network_key(destination), int(nexthop))
