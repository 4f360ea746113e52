"""Security group rules as Neutron reads them: protocols, port ranges, ICMP type and code,
remote prefixes, and the key that makes two rules the same.

Pure functions over the raw request values, in Neutron's order (attribute conversion, then
``_validate_base_security_group_rule_attributes``), so that every error is the one Neutron
gives first. The numbers and names are neutron-lib's ``IP_PROTOCOL_MAP``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from v6fabric.domain.addresses import parse_ip_prefix
from v6fabric.domain.errors import HTTPBadRequest, invalid_attribute
from v6fabric.domain.security_errors import (
    InvalidCIDR,
    SecurityGroupEthertypeConflictWithProtocol,
    SecurityGroupInvalidIcmpValue,
    SecurityGroupInvalidPortRange,
    SecurityGroupInvalidPortValue,
    SecurityGroupInvalidProtocolForPort,
    SecurityGroupMissingIcmpType,
    SecurityGroupMultipleRemoteEntites,
    SecurityGroupProtocolRequiredWithPorts,
    SecurityGroupRuleInvalidEtherType,
    SecurityGroupRuleInvalidProtocol,
    SecurityGroupRuleParameterConflict,
)

PROTOCOL_NUMBERS: dict[str, int] = {
    "ah": 51,
    "dccp": 33,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "hopopt": 0,
    "icmp": 1,
    "igmp": 2,
    "ip": 0,
    "ipip": 4,
    "ipv6-encap": 41,
    "ipv6-frag": 44,
    "ipv6-icmp": 58,
    "icmpv6": 58,  # the legacy spelling, kept as given unless the rule is IPv6
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "ipv6-route": 43,
    "ospf": 89,
    "pgm": 113,
    "rsvp": 46,
    "sctp": 132,
    "tcp": 6,
    "udp": 17,
    "udplite": 136,
    "vrrp": 112,
}
# "0" names "ip" (the later of hopopt and ip), as in neutron-lib.
PROTOCOL_NAMES = {
    str(number): name for name, number in PROTOCOL_NUMBERS.items() if name != "icmpv6"
}
SUPPORTED_PROTOCOLS: tuple[str | None, ...] = (None, "any", *PROTOCOL_NUMBERS)
PORT_PROTOCOLS = ("dccp", "sctp", "tcp", "udp", "udplite")
PORT_PROTOCOL_NUMBERS = frozenset(PROTOCOL_NUMBERS[name] for name in PORT_PROTOCOLS)
ICMP_NUMBERS = frozenset({1, 58})
LEGACY_IPV6_ICMP = ("icmp", "icmpv6")
# Refused with ethertype IPv4 (the legacy icmpv6 too: only IPv6 rules are canonicalised).
IPV6_ONLY_PROTOCOLS = frozenset(
    {"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route"}
    | {"41", "44", "58", "59", "60", "43"}
)
ETHERTYPES = ("IPv4", "IPv6")
DIRECTIONS = ("ingress", "egress")
ANY_PREFIXES = ("0.0.0.0/0", "::/0")
WHOLE_PORT_RANGE = (1, 65535)


@dataclass(frozen=True)
class Rule:
    """A validated rule; ``protocol`` is a lower-case name or a number as text, None for any."""

    security_group_id: str
    direction: str
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None

    @property
    def normalized_cidr(self) -> str | None:
        return normalized_cidr(self.remote_ip_prefix)


# --- attribute conversion (neutron/extensions/securitygroup.py) -------------------------------


def convert_protocol(value: object) -> str | None:
    """A name (lower-cased) or a number 0-255 as text; None or "any" is any protocol."""
    if value is None or (isinstance(value, str) and value.lower() == "any"):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number: int | None = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None and value.lower() in PROTOCOL_NUMBERS:
            return value.lower()
    else:
        number = None
    if number is None or not 0 <= number <= 255:
        raise SecurityGroupRuleInvalidProtocol(protocol=value, values=SUPPORTED_PROTOCOLS)
    return str(number)


def convert_ethertype(value: object) -> str:
    """Case-insensitive, as Neutron's convert_ethertype_to_case_insensitive."""
    for ethertype in ETHERTYPES:
        if isinstance(value, str) and value.lower() == ethertype.lower():
            return ethertype
    raise SecurityGroupRuleInvalidEtherType(ethertype=value, values=list(ETHERTYPES))


def convert_port(value: object) -> int | None:
    """0-65535 (ICMP type and code are narrowed later); numeric text is accepted."""
    if value is None:
        return None
    try:
        port = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        port = -1
    if isinstance(value, bool) or not 0 <= port <= 65535:
        raise SecurityGroupInvalidPortValue(port=value)
    return port


def convert_remote_ip_prefix(value: object) -> str | None:
    """Neutron keeps the prefix as given, with the mask added: 2001:db8::1 -> 2001:db8::1/128."""
    if not value:
        return None
    prefix = parse_ip_prefix(value)
    if prefix is None:
        raise InvalidCIDR(input=value)
    return prefix.with_prefixlen


def normalized_cidr(remote_ip_prefix: str | None) -> str | None:
    """The network of a stored prefix (host bits cleared), Neutron's ``normalized_cidr``."""
    prefix = parse_ip_prefix(remote_ip_prefix) if remote_ip_prefix else None
    return str(prefix.network) if prefix is not None else None


# --- Neutron's _validate_base_security_group_rule_attributes ------------------------------------


def protocol_number(protocol: str) -> int:
    return PROTOCOL_NUMBERS[protocol] if protocol in PROTOCOL_NUMBERS else int(protocol)


def _check_port_range(protocol: str | None, low: int | None, high: int | None) -> None:
    if low is None and high is None:
        return
    if protocol is None:
        raise SecurityGroupProtocolRequiredWithPorts()
    number = protocol_number(protocol)
    if number in PORT_PROTOCOL_NUMBERS:
        if low == 0 or high == 0:
            raise SecurityGroupInvalidPortValue(port=0)
        if low is None or high is None or low > high:
            raise SecurityGroupInvalidPortRange()
    elif number in ICMP_NUMBERS:
        for attr, field, value in (
            ("port_range_min", "type", low),
            ("port_range_max", "code", high),
        ):
            if value is not None and not 0 <= value <= 255:
                raise SecurityGroupInvalidIcmpValue(field=field, attr=attr, value=value)
        if low is None:
            raise SecurityGroupMissingIcmpType(value=high)
    else:
        supported = ", ".join(name.upper() for name in PORT_PROTOCOLS)
        raise SecurityGroupInvalidProtocolForPort(protocol=number, valid_port_protocols=supported)


def _canonical_protocol(ethertype: str, protocol: str | None) -> str | None:
    """IPv6 rules say ipv6-icmp (58) whatever legacy spelling (icmp, icmpv6, 1) was used."""
    if ethertype == "IPv6":
        if protocol in LEGACY_IPV6_ICMP:
            return "ipv6-icmp"
        if protocol == "1":
            return "58"
    return protocol


def _required(body: Mapping[str, Any], attribute: str) -> Any:
    if body.get(attribute) is None:
        raise HTTPBadRequest(
            msg=f"Failed to parse request. Required attribute '{attribute}' not specified"
        )
    return body[attribute]


def parse_rule(body: Mapping[str, Any]) -> Rule:
    """A request's rule, converted and validated as Neutron does, or Neutron's error."""
    group_id = _required(body, "security_group_id")
    direction = _required(body, "direction")
    if direction not in DIRECTIONS:
        raise invalid_attribute("direction", f"{direction} is not in valid_values")
    protocol = convert_protocol(body.get("protocol"))
    low = convert_port(body.get("port_range_min"))
    high = convert_port(body.get("port_range_max"))
    ethertype = convert_ethertype(body["ethertype"]) if "ethertype" in body else "IPv4"
    prefix = convert_remote_ip_prefix(body.get("remote_ip_prefix"))

    protocol = _canonical_protocol(ethertype, protocol)
    if (low, high) == WHOLE_PORT_RANGE:
        low = high = None
    _check_port_range(protocol, low, high)
    if prefix is not None and ethertype != ("IPv6" if ":" in prefix else "IPv4"):
        raise SecurityGroupRuleParameterConflict(ethertype=ethertype, cidr=prefix)
    if ethertype == "IPv4" and protocol in IPV6_ONLY_PROTOCOLS:
        raise SecurityGroupEthertypeConflictWithProtocol(ethertype=ethertype, protocol=protocol)
    remote_group = body.get("remote_group_id")
    remotes = (prefix, remote_group, body.get("remote_address_group_id"))
    if sum(1 for remote in remotes if remote) > 1:
        raise SecurityGroupMultipleRemoteEntites()
    return Rule(
        security_group_id=group_id,
        direction=direction,
        ethertype=ethertype,
        protocol=protocol,
        port_range_min=low,
        port_range_max=high,
        remote_ip_prefix=prefix,
        remote_group_id=remote_group or None,
    )


# --- sameness (Neutron's _rule_to_key) -----------------------------------------------------------


def _protocol_key(protocol: str | None, ethertype: str) -> tuple[str, str] | None:
    """Name and number, so that `tcp` and `6` are the same protocol."""
    protocol = _canonical_protocol(ethertype, protocol)
    if protocol is None:
        return None
    if protocol in PROTOCOL_NUMBERS:
        return protocol, str(PROTOCOL_NUMBERS[protocol])
    return PROTOCOL_NAMES.get(protocol, protocol), protocol


def rule_key(rule: Mapping[str, Any]) -> tuple[object, ...]:
    """What makes two rules (request dicts or stored rows) the same rule; an any-address prefix
    is the same as none."""
    prefix = rule.get("remote_ip_prefix")
    return (
        rule["security_group_id"],
        rule["direction"],
        rule["ethertype"],
        _protocol_key(rule.get("protocol"), rule["ethertype"]),
        rule.get("port_range_min"),
        rule.get("port_range_max"),
        None if prefix in ANY_PREFIXES else prefix,
        rule.get("remote_group_id"),
        rule.get("remote_address_group_id"),
    )
