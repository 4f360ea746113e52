"""Router advertisements: what radvd says on each router port and on isolated networks.

Selection follows Neutron: a subnet is advertised only if its ``ipv6_ra_mode`` is set (with
ra_mode unset an external router is expected to advertise). Beyond Neutron (X4, R6): RDNSS and
DNSSL in every mode, RFC 4191 route information for the subnet's host routes, and RAs for
networks no router serves (isolated networks) from the network's ``v6d-`` namespace.

Every interface also advertises a route to the metadata address ``fe80::a9fe:a9fe/128`` (as
Neutron's radvd and OVN do): the namespace sending the RA serves that address on the link
(``compiler.metadata``), so a guest sends its metadata requests to that namespace's MAC rather
than resolving an address two namespaces hold (R12).
"""

from __future__ import annotations

from v6fabric.compiler.index import Index, PortView, SubnetView, network_key
from v6fabric.compiler.links import dhcp_ifname, effective_up, router_ifname
from v6fabric.domain.addresses import eui64_link_local
from v6fabric.domain.subnet_rules import Ipv6Mode
from v6fabric.hoststate.metadata import METADATA_IPV6
from v6fabric.hoststate.model import (
    RadvdSpec,
    RaInterface,
    RaPrefix,
    RaRoute,
    dhcp_namespace,
    router_namespace,
)

MAX_RDNSS = 3
AUTONOMOUS_RA_MODES = frozenset({Ipv6Mode.SLAAC.value, Ipv6Mode.DHCPV6_STATELESS.value})
METADATA_ROUTE = RaRoute(cidr=f"{METADATA_IPV6}/128")


def advertised(subnets: tuple[SubnetView, ...]) -> tuple[SubnetView, ...]:
    """The IPv6 subnets among ``subnets`` that get a prefix in an RA: those with a ra_mode."""
    return tuple(s for s in subnets if s.ip_version == 6 and s.ra_mode is not None)


def advertised_routes(subnets: tuple[SubnetView, ...]) -> tuple[RaRoute, ...]:
    """Route information options for the subnets' host routes. ``::/0`` is not one: the
    default route is the router lifetime's job, not a route option."""
    destinations = {dest for s in subnets for dest, _nexthop in s.host_routes if dest.prefixlen > 0}
    return tuple(RaRoute(cidr=str(dest)) for dest in sorted(destinations, key=network_key))


def ra_interface(
    index: Index,
    port: PortView,
    ifname: str,
    mtu: int,
    subnets: tuple[SubnetView, ...],
    *,
    default_lifetime: int | None,
    with_routes: bool,
) -> RaInterface:
    """One radvd interface block for the advertised ``subnets`` (sorted by prefix) of a link.

    M is set if any subnet is DHCPv6-stateful, O if any is stateless *or stateful*. Neutron
    leaves O off for stateful (bug 2011687). RFC 4861 calls O redundant when M is set, since a
    client asking DHCPv6 for addresses gets the options in the same exchange, so setting it costs
    nothing; it helps clients that decide from O alone whether to ask for DNS options (and the
    workloads here, which start their DHCPv6 client from the flags), and it means the O flag
    always says "DHCPv6 has options for you" on a link that has a DHCPv6 server.

    A prefix is autonomous (A flag, SLAAC) for ra_mode slaac and dhcpv6-stateless; on a
    stateful subnet it is on-link only and addresses come from DHCPv6.
    """
    modes = {subnet.ra_mode for subnet in subnets}
    managed = Ipv6Mode.DHCPV6_STATEFUL.value in modes
    servers = dict.fromkeys(server for s in subnets for server in s.dns_nameservers)
    return RaInterface(
        ifname=ifname,
        managed=managed,
        other=managed or Ipv6Mode.DHCPV6_STATELESS.value in modes,
        mtu=mtu,
        prefixes=tuple(
            RaPrefix(cidr=str(s.cidr), autonomous=s.ra_mode in AUTONOMOUS_RA_MODES) for s in subnets
        ),
        rdnss=tuple(str(server) for server in servers)[:MAX_RDNSS],
        dnssl=(index.dns_domain,) if index.dns_domain else (),
        routes=(*(advertised_routes(subnets) if with_routes else ()), METADATA_ROUTE),
        default_lifetime=default_lifetime,
        source=str(eui64_link_local(port.mac)) if port.mac else None,
    )


def router_radvd(index: Index, routers: dict[str, tuple[PortView, ...]]) -> list[RadvdSpec]:
    """One radvd per router namespace, one interface per ``qr-`` port that is up and has
    advertised subnets; the router is the default router (radvd's default lifetime)."""
    specs = []
    for router_id, ports in routers.items():
        interfaces = []
        for port in ports:
            subnets = advertised(index.port_subnets(port))
            if not subnets or not effective_up(index, port):
                continue
            mtu = index.networks[port.network_id].mtu
            interfaces.append(
                ra_interface(
                    index,
                    port,
                    router_ifname(port),
                    mtu,
                    subnets,
                    default_lifetime=None,
                    with_routes=True,
                )
            )
        if interfaces:
            interfaces.sort(key=lambda interface: interface.ifname)
            specs.append(
                RadvdSpec(namespace=router_namespace(router_id), interfaces=tuple(interfaces))
            )
    return specs


def routed_subnet_ids(index: Index, routers: dict[str, tuple[PortView, ...]]) -> set[str]:
    """Subnets some router advertises: on a ``qr-`` port that is up, of a router that is up."""
    return {
        subnet.id
        for ports in routers.values()
        for port in ports
        if effective_up(index, port)
        for subnet in advertised(index.port_subnets(port))
    }


def isolated_radvd(
    index: Index, serving_dhcp: dict[str, PortView], routed: set[str]
) -> list[RadvdSpec]:
    """RAs for advertised subnets that no router advertises, from the network's ``v6d-``
    namespace on its ``ns-`` interface (only where the network has a DHCP port that is up).

    Router lifetime 0: the namespace does not forward, so it must never become a default
    router; prefixes, flags, MTU, RDNSS and DNSSL are as a router would send them. No route
    information options for host routes either, for the same reason: a route option names the
    sender as the next hop. The one exception is the metadata route: the sender serves it.
    A network with one routed and one isolated subnet gets both: the router advertises its
    prefix, the ``v6d-`` namespace the other.
    """
    specs = []
    for network_id, port in serving_dhcp.items():
        subnets = tuple(
            s
            for s in advertised(index.subnets_by_network.get(network_id, ()))
            if s.id not in routed
        )
        if not subnets:
            continue
        interface = ra_interface(
            index,
            port,
            dhcp_ifname(port),
            index.networks[network_id].mtu,
            subnets,
            default_lifetime=0,
            with_routes=False,
        )
        specs.append(RadvdSpec(namespace=dhcp_namespace(network_id), interfaces=(interface,)))
    return specs
