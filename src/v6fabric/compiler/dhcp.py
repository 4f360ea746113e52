"""dnsmasq per DHCP namespace: which subnets it serves, the MAC reservations and the options.

Modes follow Neutron (neutron-api.md §3): IPv4 and DHCPv6-stateful subnets, and IPv6 subnets
with neither mode set (Neutron's legacy), are served ``static`` (an address only to a MAC with a
reservation, exactly the address the API gave the port, R7); DHCPv6-stateless subnets are served
options only; SLAAC subnets get no DHCP at all.

Beyond Neutron (R6): a subnet with only ``ipv6_ra_mode`` set is served by the mode its RAs
announce. Neutron's reference implementation serves nothing there, so a guest told M=1 by the
RA waits for a DHCPv6 server that never answers and never gets the address the API reports.
"""

from __future__ import annotations

import functools
import ipaddress

from v6fabric.compiler.index import Index, PortView, SubnetView, address_key
from v6fabric.compiler.links import dhcp_ifname
from v6fabric.domain.subnet_rules import Ipv6Mode
from v6fabric.hoststate.metadata import METADATA_IPV4
from v6fabric.hoststate.model import DhcpHost, DhcpOption, DhcpRange, DnsmasqSpec, dhcp_namespace

STATIC = "static"
STATELESS = "stateless"
METADATA_ROUTE = ipaddress.IPv4Network(f"{METADATA_IPV4}/32")
MIN_DHCPV6_PREFIXLEN = 64  # dnsmasq refuses DHCPv6 ranges on shorter prefixes (Neutron skips them)


def address_mode(subnet: SubnetView) -> str | None:
    """The mode an IPv6 subnet's addresses come by: ``ipv6_address_mode``, else
    ``ipv6_ra_mode`` (None: neither is set)."""
    return subnet.address_mode or subnet.ra_mode


def range_mode(subnet: SubnetView) -> str | None:
    """``static``, ``stateless`` or None (dnsmasq does not serve the subnet)."""
    if not subnet.enable_dhcp:
        return None
    if subnet.ip_version == 4:
        return STATIC
    if subnet.cidr.prefixlen < MIN_DHCPV6_PREFIXLEN:
        return None
    mode = address_mode(subnet)
    if mode is None or mode == Ipv6Mode.DHCPV6_STATEFUL.value:
        return STATIC
    if mode == Ipv6Mode.DHCPV6_STATELESS.value:
        return STATELESS
    return None


def dnsmasq_specs(index: Index, serving_dhcp: dict[str, PortView]) -> list[DnsmasqSpec]:
    """One dnsmasq per network that has a DHCP port up and at least one subnet to serve."""
    specs = []
    for network_id, port in serving_dhcp.items():
        served = [
            (subnet, mode)
            for subnet in index.subnets_by_network.get(network_id, ())
            if (mode := range_mode(subnet)) is not None
        ]
        if not served:
            continue
        specs.append(
            DnsmasqSpec(
                namespace=dhcp_namespace(network_id),
                network_id=network_id,
                interface=dhcp_ifname(port),
                ranges=tuple(
                    DhcpRange(
                        tag=subnet.tag,
                        ip_version=subnet.ip_version,
                        network=str(subnet.cidr.network_address),
                        prefixlen=subnet.cidr.prefixlen,
                        mode=mode,
                    )
                    for subnet, mode in served
                ),
                hosts=_hosts(index, network_id, {subnet.id for subnet, _mode in served}),
                options=tuple(
                    sorted(
                        (
                            option
                            for subnet, _mode in served
                            for option in _options(index, subnet, port)
                        ),
                        key=lambda o: (o.tag, o.ip_version, o.name, o.value),
                    )
                ),
            )
        )
    return specs


def _hosts(index: Index, network_id: str, served_ids: set[str]) -> tuple[DhcpHost, ...]:
    """A line per client port (not DHCP, router or other network-owned ports) with an address
    on a served subnet, holding its addresses on served subnets, IPv4 first.

    On a static subnet the address is the port's reservation (exactly the API's address, R7).
    On a stateless subnet the (SLAAC) address only tells the renderer to put the host in that
    subnet's tag: with several IPv6 ranges on a link, dnsmasq tags an Information-Request only
    for hosts whose line sets the tag, so without the line the host would get no options.
    The hostname is Neutron's ``host-<first address>`` with ``.`` and ``:`` as ``-``.
    """
    served = frozenset(served_ids)
    found = (_host(port, served) for port in index.ports_by_network.get(network_id, ()))
    hosts = [host for host in found if host is not None]
    return tuple(sorted(hosts, key=lambda host: (host.mac, host.addresses)))


@functools.lru_cache(maxsize=1 << 16)  # per equal port and served subnets (hashes the PortView)
def _host(port: PortView, served_ids: frozenset[str]) -> DhcpHost | None:
    if port.network_owned or not port.mac:
        return None
    addresses = sorted(
        {ip.address for ip in port.fixed_ips if ip.subnet_id in served_ids}, key=address_key
    )
    if not addresses:
        return None
    first = str(addresses[0]).replace(":", "-").replace(".", "-")
    return DhcpHost(
        mac=port.mac,
        addresses=tuple(str(address) for address in addresses),
        hostname=f"host-{first}",
    )


def _options(index: Index, subnet: SubnetView, server: PortView) -> list[DhcpOption]:
    """DNS servers and domain search for every served subnet; for IPv4 also the router, the MTU
    and the classless static routes (DHCPv6 has no route options: routes come from RAs).

    The classless routes (option 121) send ``169.254.169.254/32`` to the DHCP port's address on
    the subnet, whose namespace serves metadata (R12; Neutron's isolated metadata does the same),
    then the subnet's host routes, then the default route via the gateway: RFC 3442 says a
    client given classless routes ignores the router option, so the default goes in too."""
    version = subnet.ip_version
    options = []

    def add(name: str, value: str) -> None:
        options.append(DhcpOption(tag=subnet.tag, ip_version=version, name=name, value=value))

    if subnet.dns_nameservers:
        if version == 6:
            add("dns-server", ",".join(f"[{server}]" for server in subnet.dns_nameservers))
        else:
            add("dns-server", ",".join(str(server) for server in subnet.dns_nameservers))
    if index.dns_domain:
        add("domain-search", index.dns_domain)
    if version == 4:
        # No gateway: an empty router option, or dnsmasq offers its own address as the router
        # and the (non-forwarding) DHCP namespace becomes a black hole (Neutron does the same).
        add("router", str(subnet.gateway_ip) if subnet.gateway_ip is not None else "")
        network = index.networks.get(subnet.network_id)
        if network is not None:  # option 26: guests learn the overlay's smaller MTU (Neutron too)
            add("mtu", str(network.mtu))
        routes = _classless_routes(subnet, server)
        if routes:
            add("classless-static-route", routes)
    return options


def _classless_routes(subnet: SubnetView, server: PortView) -> str:
    """Option 121's value (empty: none), ``destination,nexthop`` pairs (dnsmasq's form)."""
    destinations = {destination for destination, _ in subnet.host_routes}
    routes = [f"{destination},{nexthop}" for destination, nexthop in subnet.host_routes]
    own = [ip.address for ip in server.fixed_ips if ip.subnet_id == subnet.id]
    if own and METADATA_ROUTE not in destinations:
        routes.insert(0, f"{METADATA_ROUTE},{min(own)}")
    has_default = any(destination.prefixlen == 0 for destination in destinations)
    if routes and subnet.gateway_ip is not None and not has_default:
        routes.append(f"0.0.0.0/0,{subnet.gateway_ip}")
    return ",".join(routes)
