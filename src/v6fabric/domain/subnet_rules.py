"""Subnet invariants: the IPv6 address-mode matrix and the CIDR rules Neutron enforces."""

from __future__ import annotations

from enum import StrEnum

from v6fabric.domain.addresses import IPAddress, IPNetwork, parse_cidr, parse_ip
from v6fabric.domain.errors import (
    DNSNameServersExhausted,
    HostRoutesExhausted,
    InvalidInput,
    invalid_attribute,
)


class Ipv6Mode(StrEnum):
    SLAAC = "slaac"
    DHCPV6_STATEFUL = "dhcpv6-stateful"
    DHCPV6_STATELESS = "dhcpv6-stateless"


AUTO_ADDRESS_MODES = frozenset({Ipv6Mode.SLAAC, Ipv6Mode.DHCPV6_STATELESS})


def parse_mode(attribute: str, value: object) -> Ipv6Mode | None:
    if value is None:
        return None
    try:
        return Ipv6Mode(value)
    except ValueError:
        allowed = [*(m.value for m in Ipv6Mode), None]
        raise invalid_attribute(attribute, f"'{value}' is not in {allowed}") from None


def is_auto_address(ra_mode: str | None, address_mode: str | None) -> bool:
    """Ports get their EUI-64 address on such subnets (either attribute SLAAC or stateless)."""
    return ra_mode in AUTO_ADDRESS_MODES or address_mode in AUTO_ADDRESS_MODES


def validate_ipv6_modes(
    ip_version: int,
    ra_mode: Ipv6Mode | None,
    address_mode: Ipv6Mode | None,
    enable_dhcp: bool,
    cidr: IPNetwork,
) -> None:
    """Neutron's validity matrix: both set means equal, either alone is valid."""
    if ra_mode is None and address_mode is None:
        return
    if ip_version == 4:
        attribute = "ipv6_ra_mode" if ra_mode is not None else "ipv6_address_mode"
        raise InvalidInput(f"{attribute} is not valid when ip_version is 4")
    if not enable_dhcp:
        raise InvalidInput(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False"
        )
    if ra_mode is not None and address_mode is not None and ra_mode != address_mode:
        raise InvalidInput(
            f"ipv6_ra_mode set to '{ra_mode}' with ipv6_address_mode set to '{address_mode}' "
            "is not valid. If both attributes are set, they must be the same value"
        )
    if is_auto_address(ra_mode, address_mode) and cidr.prefixlen != 64:
        raise InvalidInput(
            f"Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address "
            "format, which requires the prefix to be /64"
        )


def _version_mismatch(name: str, value: object, ip_version: int) -> InvalidInput:
    """Neutron's _validate_ip_version text, naming the value as the client sent it."""
    return InvalidInput(f"{name} '{value}' does not match the ip_version '{ip_version}'")


def validate_cidr(ip_version: int, cidr: IPNetwork, enable_dhcp: bool) -> None:
    """Neutron's subnet CIDR checks, in its order, so that clients see the same first error."""
    if cidr.version != ip_version:
        raise _version_mismatch("cidr", cidr, ip_version)
    if cidr.version == 6 and int(cidr.network_address) == 0:
        raise InvalidInput("IPv6 subnet '::' is not supported")  # bug 2028159: any '::' subnet
    if enable_dhcp:
        _validate_dhcp_cidr(cidr)
    if cidr.prefixlen == 0:  # Neutron's _validate_subnet_cidr: dnsmasq fails on a /0
        raise InvalidInput("0 is not allowed as CIDR prefix length")


def _validate_dhcp_cidr(cidr: IPNetwork) -> None:
    """DHCP needs room for its own port and cannot serve multicast, loopback or 0.0.0.0 nets."""
    if cidr.prefixlen > (126 if cidr.version == 6 else 30):
        raise InvalidInput(
            "Subnet has a prefix length that is incompatible with DHCP service enabled"
        )
    if cidr.is_multicast:
        raise InvalidInput("Multicast IP subnet is not supported if enable_dhcp is True")
    if cidr.is_loopback:
        raise InvalidInput("Loopback IP subnet is not supported if enable_dhcp is True")
    if cidr.version == 4 and int(cidr.network_address) == 0:
        raise InvalidInput("First IP '0.0.0.0' of network is not supported if enable_dhcp is True.")


def default_gateway(cidr: IPNetwork) -> IPAddress | None:
    """Neutron's default: network+1 for IPv4 (a /31 too); for IPv6 the subnet's first address.

    A /32 gets none: network+1 would lie outside the subnet.
    """
    if cidr.version == 6:
        return cidr.network_address
    if cidr.num_addresses == 1:
        return None
    return cidr.network_address + 1


def parse_dns_nameservers(raw: object, ip_version: int, limit: int, subnet_ref: str) -> list[str]:
    """Neutron's checks in its order: each address and duplicates, the limit, then the family.

    The order is kept (it is the resolver order); addresses are normalised.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_attribute("dns_nameservers", f"'{raw}' is not a list")
    servers: list[IPAddress] = []
    for item in raw:
        server = _parse_nameserver(item)
        if server in servers:
            raise invalid_attribute("dns_nameservers", f"Duplicate nameserver '{item}'")
        servers.append(server)
    if len(servers) > limit:
        raise DNSNameServersExhausted(subnet_id=subnet_ref, quota=limit)
    for item, server in zip(raw, servers, strict=True):
        if server.version != ip_version:
            raise _version_mismatch("dns_nameserver", item, ip_version)
    return [str(server) for server in servers]


def _parse_nameserver(item: object) -> IPAddress:
    """neutron-lib's validate_nameservers: an IP address only, never a hostname."""
    server = parse_ip(item)
    if server is None:
        raise invalid_attribute(
            "dns_nameservers",
            f"'{item}' is not a valid nameserver. '{item}' is not a valid IP address",
        )
    return server


def parse_host_routes(raw: object, ip_version: int, limit: int, subnet_ref: str) -> list[dict]:
    """Neutron's checks in its order: each route and duplicates, the limit, then the family."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_attribute("host_routes", f"'{raw}' is not a list")
    routes: list[dict] = []
    parsed: list[tuple[dict, IPNetwork, IPAddress]] = []
    for item in raw:
        destination, nexthop = _parse_route(item)
        route = {"destination": str(destination), "nexthop": str(nexthop)}
        if route in routes:
            raise invalid_attribute("host_routes", f"Duplicate hostroute '{item}'")
        routes.append(route)
        parsed.append((item, destination, nexthop))
    if len(routes) > limit:
        raise HostRoutesExhausted(subnet_id=subnet_ref, quota=limit)
    for item, destination, nexthop in parsed:
        _check_route_version(item, destination, nexthop, ip_version)
    return routes


def _parse_route(item: object) -> tuple[IPNetwork, IPAddress]:
    """neutron-lib's validate_hostroutes: exactly the two keys, a route CIDR and an address."""
    if not isinstance(item, dict) or set(item) != {"destination", "nexthop"}:
        raise invalid_attribute(
            "host_routes",
            f"Validation of dictionary's keys failed. Expected keys: "
            f"{{'destination', 'nexthop'}} Provided keys: {set(item) if isinstance(item, dict) else item}",
        )
    destination = _parse_route_destination(item["destination"])
    nexthop = parse_ip(item["nexthop"])
    if nexthop is None:
        raise invalid_attribute("host_routes", f"'{item['nexthop']}' is not a valid IP address")
    return destination, nexthop


def _parse_route_destination(text: object) -> IPNetwork:
    """neutron-lib's validate_route_cidr: no host bits (a typo, not a route) and not loopback."""
    destination = parse_cidr(text, strict=True)
    if destination is None:
        raise invalid_attribute("host_routes", f"'{text}' is not a valid CIDR")
    if destination.is_loopback:
        raise invalid_attribute("host_routes", f"'{text}' is not a routable CIDR")
    return destination


def _check_route_version(
    item: dict, destination: IPNetwork, nexthop: IPAddress, ip_version: int
) -> None:
    """Neutron's _validate_host_route checks the nexthop's family first, then the destination's."""
    if nexthop.version != ip_version:
        raise _version_mismatch("nexthop", item["nexthop"], ip_version)
    if destination.version != ip_version:
        raise _version_mismatch("destination", item["destination"], ip_version)
