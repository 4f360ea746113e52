"""Security group rule values as Neutron converts and validates them (domain.security_rules):
protocol names and numbers, port ranges, ICMP type/code, remote prefixes, sameness."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from v6fabric.domain.errors import FabricError
from v6fabric.domain.security_rules import (
    Rule,
    convert_protocol,
    normalized_cidr,
    parse_rule,
    rule_key,
)

GROUP = "6e4d5ec5-0b5d-4c44-a1a5-c8a1a09f0d7e"
NEUTRON_PROTOCOLS = (
    "(None, 'any', 'ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ip', 'ipip', "
    "'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', "
    "'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp')"
)


def _rule(**attrs: Any) -> Rule:
    return parse_rule({"security_group_id": GROUP, "direction": "ingress", **attrs})


def _error(**attrs: Any) -> FabricError:
    with pytest.raises(FabricError) as caught:
        _rule(**attrs)
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("any", None),
        ("ANY", None),
        ("TCP", "tcp"),
        ("ipv6-icmp", "ipv6-icmp"),
        ("icmpv6", "icmpv6"),  # canonicalised only on IPv6 rules
        ("6", "6"),
        ("06", "6"),
        (0, "0"),
        (255, "255"),
    ],
)
def test_protocol_names_and_numbers(value: object, expected: str | None) -> None:
    assert convert_protocol(value) == expected


@pytest.mark.parametrize("value", ["foo", 256, -1, "256", True, 6.5, [6]])
def test_unknown_protocols(value: object) -> None:
    with pytest.raises(FabricError) as caught:
        convert_protocol(value)
    assert caught.value.type == "SecurityGroupRuleInvalidProtocol"
    assert caught.value.message == (
        f"Security group rule protocol {value} not supported. Only protocol values "
        f"{NEUTRON_PROTOCOLS} and integer representations [0 to 255] are supported."
    )


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"ethertype": "IPv6", "protocol": "icmp"}, ("ipv6-icmp", None, None)),
        ({"ethertype": "IPv6", "protocol": "icmpv6"}, ("ipv6-icmp", None, None)),
        ({"ethertype": "IPv6", "protocol": "1"}, ("58", None, None)),
        ({"ethertype": "IPv4", "protocol": "icmp", "port_range_min": 8}, ("icmp", 8, None)),
        ({"protocol": "tcp", "port_range_min": 1, "port_range_max": 65535}, ("tcp", None, None)),
        ({"protocol": "tcp", "port_range_min": "22", "port_range_max": 22.0}, ("tcp", 22, 22)),
        ({"protocol": "udplite", "port_range_min": 5, "port_range_max": 6}, ("udplite", 5, 6)),
        ({"protocol": "dccp", "port_range_min": 5, "port_range_max": 5}, ("dccp", 5, 5)),
        (
            {"protocol": "ipv6-icmp", "ethertype": "IPv6", "port_range_min": 0},
            ("ipv6-icmp", 0, None),
        ),
        ({"protocol": "132", "port_range_min": 1, "port_range_max": 2}, ("132", 1, 2)),
    ],
)
def test_canonical_protocols_and_ranges(attrs: dict[str, Any], expected: tuple[Any, ...]) -> None:
    rule = _rule(**attrs)
    assert (rule.protocol, rule.port_range_min, rule.port_range_max) == expected


@pytest.mark.parametrize(
    ("attrs", "type_name", "message"),
    [
        (
            {"protocol": "tcp", "port_range_min": 30, "port_range_max": 20},
            "SecurityGroupInvalidPortRange",
            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
        ),
        ({"protocol": "udp", "port_range_max": 20}, "SecurityGroupInvalidPortRange", None),
        (
            {"protocol": "tcp", "port_range_min": 0, "port_range_max": 0},
            "SecurityGroupInvalidPortValue",
            "Invalid value for port 0",
        ),
        (
            {"port_range_min": 65536},
            "SecurityGroupInvalidPortValue",
            "Invalid value for port 65536",
        ),
        ({"port_range_min": -1}, "SecurityGroupInvalidPortValue", "Invalid value for port -1"),
        (
            {"port_range_min": 22},
            "SecurityGroupProtocolRequiredWithPorts",
            "Must also specify protocol if port range is given.",
        ),
        (
            {"protocol": "esp", "port_range_min": 1, "port_range_max": 2},
            "SecurityGroupInvalidProtocolForPort",
            "Ports cannot be specified for protocol 50. Ports are only supported for DCCP, SCTP, "
            "TCP, UDP, UDPLITE.",
        ),
        (
            {"protocol": "icmp", "port_range_min": 8, "port_range_max": 256},
            "SecurityGroupInvalidIcmpValue",
            "Invalid value for ICMP code (port_range_max) 256. It must be 0 to 255.",
        ),
        (
            {"protocol": "icmp", "port_range_max": 0},
            "SecurityGroupMissingIcmpType",
            "ICMP code (port-range-max) 0 is provided but ICMP type (port-range-min) is missing.",
        ),
        (
            {"remote_ip_prefix": "::/0"},
            "SecurityGroupRuleParameterConflict",
            "Conflicting value ethertype IPv4 for CIDR ::/0",
        ),
        (
            {"ethertype": "IPv6", "remote_ip_prefix": "192.0.2.1"},
            "SecurityGroupRuleParameterConflict",
            "Conflicting value ethertype IPv6 for CIDR 192.0.2.1/32",
        ),
        ({"remote_ip_prefix": "fe80::1%eth0"}, "InvalidCIDR", None),
        (
            {"protocol": "ipv6-route"},
            "SecurityGroupEthertypeConflictWithProtocol",
            "Invalid ethertype IPv4 for protocol ipv6-route.",
        ),
        ({"ethertype": None}, "SecurityGroupRuleInvalidEtherType", None),
        (
            {"remote_ip_prefix": "192.0.2.0/24", "remote_address_group_id": GROUP},
            "SecurityGroupMultipleRemoteEntites",
            None,
        ),
    ],
)
def test_neutrons_errors(attrs: dict[str, Any], type_name: str, message: str | None) -> None:
    error = _error(**attrs)
    assert error.type == type_name
    if message is not None:
        assert error.message == message


def test_required_attributes_in_neutrons_order() -> None:
    with pytest.raises(FabricError) as caught:
        parse_rule({})
    assert caught.value.message == (
        "Failed to parse request. Required attribute 'security_group_id' not specified"
    )


def test_remote_prefix_as_given_with_the_mask_and_its_network() -> None:
    rule = _rule(ethertype="IPv6", remote_ip_prefix="2001:DB8::5/64")
    assert (rule.remote_ip_prefix, rule.normalized_cidr) == ("2001:db8::5/64", "2001:db8::/64")
    assert _rule(remote_ip_prefix="10.1.2.3/255.0.0.0").remote_ip_prefix == "10.1.2.3/8"
    assert _rule(remote_ip_prefix="").remote_ip_prefix is None
    assert normalized_cidr(None) is None


def test_sameness_follows_neutrons_key() -> None:
    def key(**attrs: Any) -> tuple[object, ...]:
        return rule_key(asdict(_rule(ethertype="IPv6", **attrs)))

    assert key(protocol="tcp") == key(protocol="6")
    assert key(protocol="icmp") == key(protocol="58") == key(protocol="ipv6-icmp")
    assert key(remote_ip_prefix="::/0") == key()
    assert key(protocol="ip") == key(protocol="0")
    assert key(protocol="tcp") != key(protocol="udp")
    assert key(remote_ip_prefix="2001:db8::1/64") != key(remote_ip_prefix="2001:db8::/64")
    assert key(protocol="200") != key(protocol="201")
