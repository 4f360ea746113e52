"""Subnet invariants: the IPv6 address-mode matrix and the CIDR rules Neutron enforces."""

from __future__ import annotations

import ipaddress
from enum import StrEnum

from v6fabric.domain.addresses import IPNetwork, parse_cidr, parse_ip
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


def validate_cidr(ip_version: int, cidr: IPNetwork, enable_dhcp: bool) -> None:
    if cidr.version != ip_version:
        raise InvalidInput(f"Invalid CIDR {cidr} for IP version {ip_version}")
    if cidr.prefixlen == 0:
        if ip_version == 6:
            raise InvalidInput("IPv6 subnet '::' is not supported")
        raise InvalidInput("0.0.0.0/0 is not allowed as a subnet")
    too_long = 127 if ip_version == 6 else 31
    if enable_dhcp and cidr.prefixlen >= too_long:
        raise InvalidInput(
            "Subnet has a prefix length that is incompatible with DHCP service enabled"
        )


def default_gateway(cidr: IPNetwork) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """First usable address: .1 for IPv4; for IPv6 Neutron reports the subnet's first address."""
    if cidr.version == 6:
        return cidr.network_address
    if cidr.num_addresses <= 2:
        return None
    return cidr.network_address + 1


def parse_dns_nameservers(raw: object, limit: int, subnet_ref: str) -> list[str]:
    """Neutron keeps the order (it is the resolver order) and refuses duplicates."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_attribute("dns_nameservers", f"'{raw}' is not a list")
    seen: list[str] = []
    for item in raw:
        ip = parse_ip(item)
        if ip is None:
            raise invalid_attribute("dns_nameservers", f"'{item}' is not a valid nameserver")
        if str(ip) in seen:
            raise invalid_attribute("dns_nameservers", f"Duplicate nameserver '{item}'")
        seen.append(str(ip))
    if len(seen) > limit:
        raise DNSNameServersExhausted(subnet_id=subnet_ref, quota=limit)
    return seen


def parse_host_routes(raw: object, ip_version: int, limit: int, subnet_ref: str) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_attribute("host_routes", f"'{raw}' is not a list")
    routes: list[dict] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"destination", "nexthop"}:
            raise invalid_attribute(
                "host_routes",
                f"Validation of dictionary's keys failed. Expected keys: "
                f"{{'destination', 'nexthop'}} Provided keys: {set(item) if isinstance(item, dict) else item}",
            )
        destination = parse_cidr(item["destination"])
        nexthop = parse_ip(item["nexthop"])
        if destination is None:
            raise invalid_attribute(
                "host_routes", f"'{item['destination']}' is not a valid IP subnet"
            )
        if nexthop is None:
            raise invalid_attribute("host_routes", f"'{item['nexthop']}' is not a valid IP address")
        if destination.version != ip_version or nexthop.version != ip_version:
            raise InvalidInput(f"Invalid route {item} for IP version {ip_version}")
        route = {"destination": str(destination), "nexthop": str(nexthop)}
        if route in routes:
            raise invalid_attribute("host_routes", f"Duplicate hostroute '{item}'")
        routes.append(route)
    if len(routes) > limit:
        raise HostRoutesExhausted(subnet_id=subnet_ref, quota=limit)
    return routes
