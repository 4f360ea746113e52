"""Distributed routers (R20) in a host's state: which host gets which instance, legs,
routes and neighbours. The design is ``hoststate.dvr``'s; this module only places it.

* An instance (``v6r-<router>``) on every host of ``dvr_hosts``, whatever the L3 scheduler
  says, with a ``qr-`` leg for every interface of the router (not only the networks with a
  local workload: east/west is routed on the sender's host, so every destination network must
  be there). Each leg has the host's own MAC (``host_leg_mac``) and, besides the interface's
  addresses, the link-local of the port's API MAC, which radvd sends from
  (``RaInterface.source``): the workloads' default router is the same address on every host.
* The central instance (``v6s-<router>``) only on the router's scheduled host and only when
  it has an external gateway: its ``qg-`` leg and an ``sg-`` leg (no address but its
  link-local) per interface network with an IPv6 subnet. The instances' default route goes to
  the central leg's link-local on the first such network; the central instance reaches the
  tenants' subnets on-link through its ``sg-`` legs.
* IPv4 north/south is not supported on a distributed router: v6fabric never NATs and the
  ``sg-`` legs have no IPv4, so the instances get no IPv4 default route (IPv4 east/west is
  routed as IPv6 is).
* Instances never solicit (their solicitations would come from the shared gateway
  addresses), so every instance and the central one get a permanent neighbour entry for every
  fixed IP of every port of the router's networks. Left out: the router's own ports, other
  distributed routers' interfaces (their MAC differs per host) and allowed address pairs (a
  VIP moves between MACs: a permanent entry would pin it to one; such an address is
  unreachable through a distributed router).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace

from v6fabric.compiler.dvr_view import (
    HostsOf,
    central_ifname,
    central_networks,
    distributed_gateways,
    dvr_hosts,
    interface_ports,
    is_distributed,
    is_dvr_leg,
)
from v6fabric.compiler.gateway import uplink
from v6fabric.compiler.index import Index, PortView
from v6fabric.compiler.links import (
    effective_up,
    namespace_ports,
    router_ifname,
)
from v6fabric.compiler.routing import IPV6_DEFAULT, router_namespaces
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.hoststate.dvr import central_leg_id, central_leg_mac, host_leg_mac
from v6fabric.hoststate.model import (
    NamespaceSpec,
    NeighborSpec,
    PortSpec,
    RouteSpec,
    central_namespace,
    router_namespace,
    tap_name,
)

# --- the instances ------------------------------------------------------------------------


def dvr_instances(
    index: Index, host: str, every_router: dict[str, tuple[PortView, ...]]
) -> dict[str, tuple[PortView, ...]]:
    """The distributed routers (up: ``every_router``) with an instance on ``host``."""
    return {
        router_id: ports
        for router_id, ports in sorted(every_router.items())
        if is_distributed(index, router_id) and host in dvr_hosts(index, router_id)
    }


def dvr_ports(
    index: Index, host: str, instances: dict[str, tuple[PortView, ...]]
) -> list[PortSpec]:
    """The instances' ``qr-`` legs, as any router's (``namespace_ports``) but with ``host``'s
    MAC and, besides the interface's addresses, the link-local of the port's API MAC."""
    specs = []
    for spec in namespace_ports(index, {}, instances):
        port = index.ports_by_id[spec.port_id]
        shared = (f"{eui64_link_local(port.mac)}/64",) if port.mac else ()
        addresses = tuple(sorted((*spec.addresses, *shared), key=_cidr_key))
        specs.append(replace(spec, mac=host_leg_mac(host, port.id), addresses=addresses))
    return specs


def dvr_namespaces(index: Index, instances: dict[str, tuple[PortView, ...]]) -> list[NamespaceSpec]:
    """The instances' namespaces: a router's routes without a gateway leg (extra routes with
    an on-link next hop, its RAs' host routes), the default route to the central instance
    when the router has a gateway (and no extra route takes ``::/0``), the neighbours: every
    port's addresses and, with that default route, the central leg's link-local (an instance
    must not solicit it either). ``distributed``: the same namespace is on other hosts too."""
    specs = []
    gateways = distributed_gateways(index)
    for spec in router_namespaces(index, instances):
        router_id = spec.name.removeprefix(router_namespace(""))
        routes = list(spec.routes)
        legs = [port for port in instances[router_id] if effective_up(index, port)]
        found = list(neighbors(index, router_id, _instance_leg(legs)))
        central = _central_leg(index, router_id) if router_id in gateways else None
        if central is not None and all(r.destination != str(IPV6_DEFAULT) for r in routes):
            ifname, mac = central
            link_local = str(eui64_link_local(mac))
            routes.append(RouteSpec(str(IPV6_DEFAULT), link_local, ifname))
            found.append(NeighborSpec(ifname, link_local, mac))
        specs.append(
            replace(
                spec,
                routes=tuple(sorted(routes, key=_route_key)),
                neighbors=tuple(sorted(found, key=lambda n: (n.ifname, n.address))),
                distributed=True,
            )
        )
    return specs


def _central_leg(index: Index, router_id: str) -> tuple[str, str] | None:
    """The instance's ``qr-`` leg towards the central instance and the central leg's MAC: on
    the first network with an IPv6 subnet whose leg is up (the central leg there is up too)."""
    for network_id, port in central_networks(index, router_id).items():
        if effective_up(index, port):
            return router_ifname(port), central_leg_mac(router_id, network_id)
    return None


LegOf = Callable[[str, str, int], str | None]  # (network id, subnet id, version) -> ifname


def _instance_leg(legs: list[PortView]) -> LegOf:
    """The ``qr-`` leg an address belongs on: the one holding its subnet, else one of its
    family on its network, else any on its network (a router has one IPv6 port per network
    but one per IPv4 subnet)."""
    by_network: dict[str, list[PortView]] = {}
    for port in legs:
        by_network.setdefault(port.network_id, []).append(port)

    def leg(network_id: str, subnet_id: str, version: int) -> str | None:
        candidates = by_network.get(network_id, [])
        for port in candidates:
            if any(ip.subnet_id == subnet_id for ip in port.fixed_ips):
                return router_ifname(port)
        for port in candidates:
            if any(ip.address.version == version for ip in port.fixed_ips):
                return router_ifname(port)
        return router_ifname(candidates[0]) if candidates else None

    return leg


def neighbors(index: Index, router_id: str, leg_of: LegOf) -> tuple[NeighborSpec, ...]:
    """A permanent entry per fixed IP of every port on the router's networks, on the leg
    ``leg_of`` names (none: no entry), sorted by (ifname, address)."""
    networks = {port.network_id for port in interface_ports(index, router_id)}
    found: dict[tuple[str, str], NeighborSpec] = {}
    for network_id in sorted(networks):
        for port in index.ports_by_network.get(network_id, ()):
            if not port.mac or port.device_id == router_id or is_dvr_leg(index, port):
                continue
            for ip in port.fixed_ips:
                ifname = leg_of(network_id, ip.subnet_id, ip.address.version)
                if ifname is not None:
                    key = (ifname, str(ip.address))
                    found.setdefault(key, NeighborSpec(ifname, str(ip.address), port.mac))
    return tuple(found[key] for key in sorted(found))


# --- the central instance -----------------------------------------------------------------


def central_gateways(
    index: Index, host: str, every_gateway: dict[str, PortView], router_hosts: HostsOf
) -> dict[str, PortView]:
    """The distributed routers (up, with a gateway) whose central instance ``host`` runs, and
    their gateway ports."""
    return {
        router_id: port
        for router_id, port in sorted(every_gateway.items())
        if is_distributed(index, router_id) and host in router_hosts(router_id)
    }


def central_ports(index: Index, central: dict[str, PortView]) -> list[PortSpec]:
    """Each central instance's ``qg-`` leg (as any router's, in ``v6s-``) and ``sg-`` legs."""
    specs = [
        replace(spec, namespace=central_namespace(spec_router))
        for spec_router, gateway in central.items()
        for spec in namespace_ports(index, {}, {}, {spec_router: gateway})
    ]
    for router_id in central:
        for network_id, port in central_networks(index, router_id).items():
            leg_id = central_leg_id(router_id, network_id)
            specs.append(
                PortSpec(
                    port_id=leg_id,
                    network_id=network_id,
                    kind="router",
                    tap=tap_name(leg_id),
                    mac=central_leg_mac(router_id, network_id),
                    mtu=index.networks[network_id].mtu,
                    admin_up=effective_up(index, port),
                    namespace=central_namespace(router_id),
                    ifname=central_ifname(router_id, network_id),
                )
            )
    return specs


def central_namespaces(
    index: Index, central: dict[str, PortView], ipv6_gateway: str | None
) -> list[NamespaceSpec]:
    """Each central instance: the tenants' IPv6 subnets on-link through the ``sg-`` legs that
    are up, the gateway's default routes as any router's (``compiler.gateway``), the
    neighbours on the ``sg-`` legs. No radvd, no metadata: the instances serve both."""
    specs = []
    for router_id, gateway in central.items():
        up = {
            network_id: port
            for network_id, port in central_networks(index, router_id).items()
            if effective_up(index, port)
        }
        routes = [
            RouteSpec(str(subnet.cidr), None, central_ifname(router_id, network_id))
            for network_id, port in up.items()
            for subnet in index.port_subnets(port)
            if subnet.ip_version == 6
        ]
        defaults, ra_uplink = uplink(index, gateway, ipv6_gateway)
        routes += [RouteSpec(str(dest), str(hop), device) for dest, hop, device in defaults]

        specs.append(
            NamespaceSpec(
                name=central_namespace(router_id),
                forwarding=True,
                routes=tuple(sorted(routes, key=_route_key)),
                ra_uplink=ra_uplink,
                neighbors=neighbors(index, router_id, _sg_leg(router_id, set(up))),
            )
        )
    return specs


def _sg_leg(router_id: str, networks: set[str]) -> LegOf:
    """The ``sg-`` leg of an address's network, if that leg is up (``networks``)."""

    def leg(network_id: str, _subnet_id: str, _version: int) -> str | None:
        return central_ifname(router_id, network_id) if network_id in networks else None

    return leg


def _cidr_key(cidr: str) -> tuple[int, int, int]:
    interface = ipaddress.ip_interface(cidr)
    return (interface.version, int(interface.ip), interface.network.prefixlen)


def _route_key(route: RouteSpec) -> tuple[int, int, int, int, str]:
    destination = ipaddress.ip_network(route.destination)
    gateway = int(ipaddress.ip_address(route.gateway)) if route.gateway else -1
    key = (destination.version, int(destination.network_address), destination.prefixlen)
    return (*key, gateway, route.device or "")
