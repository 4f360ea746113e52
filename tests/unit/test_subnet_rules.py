"""Unit tests for ``v6fabric.domain.subnet_rules``: the IPv6 mode matrix and Neutron's CIDR rules.

Expected texts are Neutron's (neutron-api.md §1; neutron/db/db_base_plugin_v2.py,
neutron/db/ipam_backend_mixin.py and neutron_lib/api/validators).
"""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6fabric.domain.errors import (
    DNSNameServersExhausted,
    FabricError,
    HostRoutesExhausted,
    HTTPBadRequest,
    InvalidInput,
)
from v6fabric.domain.subnet_rules import (
    Ipv6Mode,
    default_gateway,
    is_auto_address,
    parse_dns_nameservers,
    parse_host_routes,
    parse_mode,
    validate_cidr,
    validate_ipv6_modes,
)

PROPERTY = settings(max_examples=200, deadline=None)

MODES: list[Ipv6Mode | None] = [None, *Ipv6Mode]
PAIRS = list(itertools.product(MODES, MODES))
V6_64 = ipaddress.IPv6Network("2001:db8:1::/64")


def invalid_input(text: str) -> str:
    """InvalidInput's message as Neutron words it."""
    return f"Invalid input for operation: {text}."


def assert_bad_request(error: FabricError, exc_type: type, message: str | None = None) -> None:
    assert type(error) is exc_type
    assert error.status == 400
    if message is not None:
        assert error.message == message


# --- parse_mode -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(Ipv6Mode))
def test_parse_mode_accepts_every_mode(mode: Ipv6Mode) -> None:
    assert parse_mode("ipv6_ra_mode", mode.value) is mode


def test_parse_mode_values() -> None:
    assert {m.value for m in Ipv6Mode} == {"slaac", "dhcpv6-stateful", "dhcpv6-stateless"}
    assert parse_mode("ipv6_address_mode", None) is None


@pytest.mark.parametrize("value", ["SLAAC", "dhcpv6", "", "none", 1, ["slaac"]])
def test_parse_mode_refuses(value: object) -> None:
    with pytest.raises(HTTPBadRequest) as caught:
        parse_mode("ipv6_address_mode", value)
    assert caught.value.status == 400
    assert caught.value.message.startswith("Invalid input for ipv6_address_mode. Reason: ")


# --- the ra_mode x address_mode matrix ------------------------------------------------------


@pytest.mark.parametrize(("ra_mode", "address_mode"), PAIRS)
def test_mode_matrix(ra_mode: Ipv6Mode | None, address_mode: Ipv6Mode | None) -> None:
    unequal = ra_mode is not None and address_mode is not None and ra_mode != address_mode
    if not unequal:
        validate_ipv6_modes(6, ra_mode, address_mode, True, V6_64)
        return
    with pytest.raises(InvalidInput) as caught:
        validate_ipv6_modes(6, ra_mode, address_mode, True, V6_64)
    assert_bad_request(
        caught.value,
        InvalidInput,
        invalid_input(
            f"ipv6_ra_mode set to '{ra_mode.value}' with ipv6_address_mode set to "
            f"'{address_mode.value}' is not valid. If both attributes are set, they must be "
            "the same value"
        ),
    )
    assert caught.value.type == "InvalidInput"


def test_mode_matrix_counts() -> None:
    """neutron-api.md §1: of the 16 combinations 9 are valid and the 6 unequal pairs are not."""
    failing = 0
    for ra_mode, address_mode in PAIRS:
        try:
            validate_ipv6_modes(6, ra_mode, address_mode, True, V6_64)
        except InvalidInput:
            failing += 1
    assert failing == 6


def test_mode_matrix_neutron_example_text() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_ipv6_modes(6, Ipv6Mode.SLAAC, Ipv6Mode.DHCPV6_STATEFUL, True, V6_64)
    assert caught.value.message == (
        "Invalid input for operation: ipv6_ra_mode set to 'slaac' with ipv6_address_mode set "
        "to 'dhcpv6-stateful' is not valid. If both attributes are set, they must be the same "
        "value."
    )


@pytest.mark.parametrize(("ra_mode", "address_mode"), PAIRS[1:])
def test_modes_refused_on_ipv4(ra_mode: Ipv6Mode | None, address_mode: Ipv6Mode | None) -> None:
    cidr = ipaddress.IPv4Network("10.0.0.0/24")
    attribute = "ipv6_ra_mode" if ra_mode is not None else "ipv6_address_mode"
    for dhcp in (True, False):
        with pytest.raises(InvalidInput) as caught:
            validate_ipv6_modes(4, ra_mode, address_mode, dhcp, cidr)
        assert_bad_request(
            caught.value,
            InvalidInput,
            invalid_input(f"{attribute} is not valid when ip_version is 4"),
        )


def test_no_modes_fine_on_ipv4() -> None:
    validate_ipv6_modes(4, None, None, True, ipaddress.IPv4Network("10.0.0.0/24"))
    validate_ipv6_modes(4, None, None, False, ipaddress.IPv4Network("10.0.0.0/24"))


@pytest.mark.parametrize(("ra_mode", "address_mode"), PAIRS[1:])
def test_modes_refused_without_dhcp(
    ra_mode: Ipv6Mode | None, address_mode: Ipv6Mode | None
) -> None:
    """Neutron checks enable_dhcp before the combination, so unequal pairs get this text too."""
    with pytest.raises(InvalidInput) as caught:
        validate_ipv6_modes(6, ra_mode, address_mode, False, V6_64)
    assert_bad_request(
        caught.value,
        InvalidInput,
        invalid_input(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False"
        ),
    )


def test_no_modes_fine_without_dhcp() -> None:
    validate_ipv6_modes(6, None, None, False, V6_64)


VALID_AUTO_PAIRS = [
    (ra, addr)
    for ra, addr in PAIRS
    if (ra is None or addr is None or ra == addr) and is_auto_address(ra, addr)
]


@pytest.mark.parametrize(("ra_mode", "address_mode"), VALID_AUTO_PAIRS)
@pytest.mark.parametrize(
    "cidr", ["2001:db8::/48", "2001:db8::/63", "2001:db8::/65", "2001:db8::/80", "2001:db8::/120"]
)
def test_auto_modes_need_a_64(
    ra_mode: Ipv6Mode | None, address_mode: Ipv6Mode | None, cidr: str
) -> None:
    network = ipaddress.IPv6Network(cidr)
    with pytest.raises(InvalidInput) as caught:
        validate_ipv6_modes(6, ra_mode, address_mode, True, network)
    assert_bad_request(
        caught.value,
        InvalidInput,
        invalid_input(
            f"Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address "
            "format, which requires the prefix to be /64"
        ),
    )
    validate_ipv6_modes(6, ra_mode, address_mode, True, ipaddress.IPv6Network("2001:db8::/64"))


@pytest.mark.parametrize(
    ("ra_mode", "address_mode"),
    [
        (Ipv6Mode.DHCPV6_STATEFUL, Ipv6Mode.DHCPV6_STATEFUL),
        (None, Ipv6Mode.DHCPV6_STATEFUL),
        (Ipv6Mode.DHCPV6_STATEFUL, None),
    ],
)
@pytest.mark.parametrize(
    "cidr", ["2001:db8::/48", "2001:db8::/64", "2001:db8::/80", "2001:db8::/120", "2001:db8::/126"]
)
def test_stateful_any_prefix_length(
    ra_mode: Ipv6Mode | None, address_mode: Ipv6Mode | None, cidr: str
) -> None:
    validate_ipv6_modes(6, ra_mode, address_mode, True, ipaddress.IPv6Network(cidr))


def test_unequal_pair_reported_before_prefix_length() -> None:
    with pytest.raises(InvalidInput, match="must be the same value"):
        validate_ipv6_modes(
            6,
            Ipv6Mode.SLAAC,
            Ipv6Mode.DHCPV6_STATEFUL,
            True,
            ipaddress.IPv6Network("2001:db8::/80"),
        )


@pytest.mark.parametrize(("ra_mode", "address_mode"), PAIRS)
def test_is_auto_address_truth_table(
    ra_mode: Ipv6Mode | None, address_mode: Ipv6Mode | None
) -> None:
    auto = {Ipv6Mode.SLAAC, Ipv6Mode.DHCPV6_STATELESS}
    expected = ra_mode in auto or address_mode in auto
    assert is_auto_address(ra_mode, address_mode) is expected
    # Stored values come back as plain strings.
    as_text = (
        ra_mode.value if ra_mode else None,
        address_mode.value if address_mode else None,
    )
    assert is_auto_address(*as_text) is expected


def test_is_auto_address_examples() -> None:
    assert is_auto_address(None, None) is False
    assert is_auto_address("dhcpv6-stateful", "dhcpv6-stateful") is False
    assert is_auto_address(None, "dhcpv6-stateful") is False
    assert is_auto_address("slaac", None) is True
    assert is_auto_address(None, "dhcpv6-stateless") is True
    assert is_auto_address("dhcpv6-stateless", "dhcpv6-stateless") is True


# --- validate_cidr --------------------------------------------------------------------------


DHCP_TEXT = invalid_input(
    "Subnet has a prefix length that is incompatible with DHCP service enabled"
)


@pytest.mark.parametrize(("version", "cidr"), [(4, "2001:db8::/64"), (6, "10.0.0.0/24")])
def test_validate_cidr_version_mismatch(version: int, cidr: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(version, ipaddress.ip_network(cidr), True)
    assert caught.value.status == 400


@pytest.mark.parametrize(("version", "cidr"), [(4, "2001:db8::/64"), (6, "10.0.0.0/24")])
def test_validate_cidr_version_mismatch_neutron_text(version: int, cidr: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(version, ipaddress.ip_network(cidr), True)
    assert caught.value.message == invalid_input(
        f"cidr '{cidr}' does not match the ip_version '{version}'"
    )


@pytest.mark.parametrize("dhcp", [True, False])
def test_validate_cidr_ipv6_zero_prefix(dhcp: bool) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(6, ipaddress.IPv6Network("::/0"), dhcp)
    assert_bad_request(
        caught.value, InvalidInput, invalid_input("IPv6 subnet '::' is not supported")
    )


@pytest.mark.parametrize("dhcp", [True, False])
def test_validate_cidr_ipv4_zero_prefix(dhcp: bool) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(4, ipaddress.IPv4Network("0.0.0.0/0"), dhcp)
    assert caught.value.status == 400


def test_validate_cidr_ipv4_zero_prefix_neutron_text() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(4, ipaddress.IPv4Network("0.0.0.0/0"), False)
    assert caught.value.message == invalid_input("0 is not allowed as CIDR prefix length")


@pytest.mark.parametrize("cidr", ["::/64", "::/1", "::/96", "::/120"])
def test_validate_cidr_refuses_subnets_at_double_colon(cidr: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(6, ipaddress.IPv6Network(cidr), False)
    assert caught.value.message == invalid_input("IPv6 subnet '::' is not supported")


@pytest.mark.parametrize(
    ("version", "cidr"),
    [(6, "2001:db8::/127"), (6, "2001:db8::/128"), (4, "10.0.0.0/31"), (4, "10.0.0.1/32")],
)
def test_validate_cidr_dhcp_needs_room(version: int, cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(version, network, True)
    assert_bad_request(caught.value, InvalidInput, DHCP_TEXT)
    validate_cidr(version, network, False)  # without DHCP the tiny subnet is fine


@pytest.mark.parametrize(
    ("version", "cidr"),
    [
        (6, "2001:db8::/126"),
        (6, "2001:db8::/64"),
        (6, "2001:db8::/48"),
        (4, "10.0.0.0/30"),
        (4, "10.0.0.0/8"),
    ],
)
def test_validate_cidr_accepts(version: int, cidr: str) -> None:
    validate_cidr(version, ipaddress.ip_network(cidr), True)
    validate_cidr(version, ipaddress.ip_network(cidr), False)


# Ordinary networks, built rather than filtered: global unicast 2000::/3 and IPv4 1.0.0.0 -
# 126.255.255.255 / 128.0.0.0 - 223.255.255.255, at prefix lengths that keep them off 0.0.0.0/'::',
# loopback and multicast (those are covered by the explicit cases).
ipv6_ordinary = st.builds(
    lambda low, length: ipaddress.IPv6Network(((1 << 125) | low, length), strict=False),
    st.integers(0, 2**125 - 1),
    st.integers(3, 128),
)
ipv4_ordinary = st.builds(
    lambda address, length: ipaddress.IPv4Network((address, length), strict=False),
    st.one_of(st.integers(0x01000000, 0x7EFFFFFF), st.integers(0x80000000, 0xDFFFFFFF)),
    st.integers(8, 32),
)


@PROPERTY
@given(network=ipv6_ordinary, dhcp=st.booleans())
def test_validate_cidr_ipv6_prefix_lengths(network: ipaddress.IPv6Network, dhcp: bool) -> None:
    if dhcp and network.prefixlen >= 127:
        with pytest.raises(InvalidInput) as caught:
            validate_cidr(6, network, dhcp)
        assert caught.value.message == DHCP_TEXT
    else:
        validate_cidr(6, network, dhcp)


@PROPERTY
@given(network=ipv4_ordinary, dhcp=st.booleans())
def test_validate_cidr_ipv4_prefix_lengths(network: ipaddress.IPv4Network, dhcp: bool) -> None:
    if dhcp and network.prefixlen >= 31:
        with pytest.raises(InvalidInput) as caught:
            validate_cidr(4, network, dhcp)
        assert caught.value.message == DHCP_TEXT
    else:
        validate_cidr(4, network, dhcp)


@pytest.mark.parametrize(
    ("version", "cidr", "text"),
    [
        (4, "224.0.0.0/24", "Multicast IP subnet is not supported if enable_dhcp is True"),
        (6, "ff05::/64", "Multicast IP subnet is not supported if enable_dhcp is True"),
        (4, "127.0.0.0/24", "Loopback IP subnet is not supported if enable_dhcp is True"),
        (4, "0.0.0.0/8", "First IP '0.0.0.0' of network is not supported if enable_dhcp is True."),
    ],
)
def test_validate_cidr_dhcp_special_ranges(version: int, cidr: str, text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(version, ipaddress.ip_network(cidr), True)
    assert caught.value.message == invalid_input(text)


@pytest.mark.parametrize(
    "cidr", ["224.0.0.0/24", "ff05::/64", "127.0.0.0/24", "0.0.0.0/8", "2001:db8::/127"]
)
def test_validate_cidr_dhcp_only_checks_are_skipped_without_dhcp(cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    validate_cidr(network.version, network, False)


FIRST_IP_TEXT = invalid_input(
    "First IP '0.0.0.0' of network is not supported if enable_dhcp is True."
)
DOUBLE_COLON_TEXT = invalid_input("IPv6 subnet '::' is not supported")


@pytest.mark.parametrize(
    ("version", "cidr", "dhcp", "message"),
    [
        # The family first, before any other rule.
        (4, "::/0", True, invalid_input("cidr '::/0' does not match the ip_version '4'")),
        (
            6,
            "0.0.0.0/0",
            False,
            invalid_input("cidr '0.0.0.0/0' does not match the ip_version '6'"),
        ),
        # '::' before the DHCP rules.
        (6, "::/127", True, DOUBLE_COLON_TEXT),
        (6, "::/0", True, DOUBLE_COLON_TEXT),
        # The DHCP rules before the /0 rule; the prefix length first among them.
        (4, "0.0.0.0/0", True, FIRST_IP_TEXT),
        (4, "0.0.0.0/31", True, DHCP_TEXT),
        (4, "224.0.0.0/31", True, DHCP_TEXT),
        (4, "127.0.0.1/32", True, DHCP_TEXT),
        (
            6,
            "ff02::/16",
            True,
            invalid_input("Multicast IP subnet is not supported if enable_dhcp is True"),
        ),
    ],
)
def test_validate_cidr_follows_neutrons_order(
    version: int, cidr: str, dhcp: bool, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(version, ipaddress.ip_network(cidr), dhcp)
    assert_bad_request(caught.value, InvalidInput, message)


@PROPERTY
@given(prefixlen=st.integers(1, 128), dhcp=st.booleans())
def test_validate_cidr_refuses_every_double_colon_subnet(prefixlen: int, dhcp: bool) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_cidr(6, ipaddress.IPv6Network(("::", prefixlen)), dhcp)
    assert caught.value.message == DOUBLE_COLON_TEXT


# --- default_gateway ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "gateway"),
    [
        ("10.0.0.0/24", "10.0.0.1"),
        ("192.168.4.0/22", "192.168.4.1"),
        ("10.0.0.0/30", "10.0.0.1"),
        ("2001:db8:1::/64", "2001:db8:1::"),  # Neutron 29: the subnet-router anycast address
        ("2001:db8::/48", "2001:db8::"),
        ("2001:db8::/127", "2001:db8::"),
        ("2001:db8::5/128", "2001:db8::5"),
    ],
)
def test_default_gateway(cidr: str, gateway: str) -> None:
    assert default_gateway(ipaddress.ip_network(cidr)) == ipaddress.ip_address(gateway)


@PROPERTY
@given(address=st.integers(0, 2**128 - 1), prefixlen=st.integers(0, 128))
def test_default_gateway_ipv6_is_first_address(address: int, prefixlen: int) -> None:
    network = ipaddress.IPv6Network((address, prefixlen), strict=False)
    assert default_gateway(network) == network.network_address


@PROPERTY
@given(address=st.integers(0, 2**32 - 1), prefixlen=st.integers(0, 30))
def test_default_gateway_ipv4_is_first_host(address: int, prefixlen: int) -> None:
    network = ipaddress.IPv4Network((address, prefixlen), strict=False)
    gateway = default_gateway(network)
    assert gateway == network.network_address + 1
    assert gateway in network


def test_default_gateway_ipv4_slash31() -> None:
    assert default_gateway(ipaddress.IPv4Network("10.0.0.0/31")) == ipaddress.IPv4Address(
        "10.0.0.1"
    )


def test_default_gateway_ipv4_slash32_has_none() -> None:
    """network+1 would lie outside a /32, so no default gateway is set there."""
    assert default_gateway(ipaddress.IPv4Network("10.0.0.7/32")) is None


# --- dns_nameservers ------------------------------------------------------------------------


def test_dns_keeps_order_and_normalises() -> None:
    raw6 = ["2001:DB8::53", "2001:db8::1", "2001:db8:0::2"]
    assert parse_dns_nameservers(raw6, 6, 5, "new subnet") == [
        "2001:db8::53",
        "2001:db8::1",
        "2001:db8::2",
    ]
    assert parse_dns_nameservers(["10.0.0.2", "8.8.8.8"], 4, 5, "new subnet") == [
        "10.0.0.2",
        "8.8.8.8",
    ]


@PROPERTY
@given(
    st.lists(st.integers(0, 2**128 - 1), unique=True, max_size=8).map(
        lambda ints: [str(ipaddress.IPv6Address(i)) for i in ints]
    )
)
def test_dns_order_kept_for_any_unique_list(servers: list[str]) -> None:
    assert parse_dns_nameservers(servers, 6, 8, "new subnet") == servers


def test_dns_none_and_empty() -> None:
    assert parse_dns_nameservers(None, 6, 5, "new subnet") == []
    assert parse_dns_nameservers([], 4, 5, "new subnet") == []


@pytest.mark.parametrize(
    "raw",
    [
        ["10.0.0.2", "10.0.0.2"],
        ["2001:db8::53", "8.8.8.8", "2001:db8::53"],  # the duplicate is reported before the family
        ["2001:db8::53", "2001:DB8:0::53"],  # the same address spelt twice
    ],
)
def test_dns_refuses_duplicates(raw: list[str]) -> None:
    with pytest.raises(HTTPBadRequest) as caught:
        parse_dns_nameservers(raw, 6, 5, "new subnet")
    assert caught.value.status == 400
    assert caught.value.message.startswith("Invalid input for dns_nameservers. Reason: ")
    assert "Duplicate nameserver" in caught.value.message


@pytest.mark.parametrize(
    "item",
    [
        "not-an-ip",
        "",
        "10.0.0.0/24",
        "2001:db8::/64",
        "10.0.0.256",
        "fe80::1%eth0",  # a zone id
        "2001:db8::53 ",
        None,
        53,
        {"ip": "10.0.0.1"},
    ],
)
def test_dns_refuses_invalid_items(item: object) -> None:
    with pytest.raises(HTTPBadRequest) as caught:
        parse_dns_nameservers(["10.0.0.2", item], 4, 5, "new subnet")
    assert caught.value.message.startswith("Invalid input for dns_nameservers. Reason: ")
    assert "is not a valid nameserver" in caught.value.message
    # neutron-lib's validate_nameservers wraps validate_ip_address's reason.
    assert caught.value.message == (
        f"Invalid input for dns_nameservers. Reason: '{item}' is not a valid nameserver. "
        f"'{item}' is not a valid IP address."
    )


@pytest.mark.parametrize("raw", ["10.0.0.2", {"10.0.0.2": 1}, 3])
def test_dns_refuses_non_lists(raw: object) -> None:
    with pytest.raises(HTTPBadRequest):
        parse_dns_nameservers(raw, 4, 5, "new subnet")


def test_dns_limit() -> None:
    servers = [f"2001:db8::{i}" for i in range(1, 6)]
    assert parse_dns_nameservers(servers, 6, 5, "new subnet") == servers
    with pytest.raises(DNSNameServersExhausted) as caught:
        parse_dns_nameservers([*servers, "2001:db8::6"], 6, 5, "new subnet")
    assert caught.value.status == 400
    assert caught.value.message == (
        "Unable to complete operation for new subnet. "
        "The number of DNS nameservers exceeds the limit 5."
    )


@pytest.mark.parametrize(
    ("version", "raw", "wrong"),
    [
        (6, ["2001:db8::53", "10.0.0.2"], "10.0.0.2"),
        (6, ["8.8.8.8", "2001:db8::53", "10.0.0.2"], "8.8.8.8"),  # the first one is named
        (4, ["10.0.0.2", "2001:DB8::53"], "2001:DB8::53"),  # as the client spelt it
        (4, ["::ffff:10.0.0.2"], "::ffff:10.0.0.2"),  # IPv4-mapped is an IPv6 address
    ],
)
def test_dns_refuses_the_other_family(version: int, raw: list[str], wrong: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_dns_nameservers(raw, version, 5, "new subnet")
    assert_bad_request(
        caught.value,
        InvalidInput,
        invalid_input(f"dns_nameserver '{wrong}' does not match the ip_version '{version}'"),
    )


def test_dns_limit_checked_before_the_family() -> None:
    """Neutron's _validate_subnet counts the nameservers before it checks their family."""
    with pytest.raises(DNSNameServersExhausted):
        parse_dns_nameservers(["10.0.0.2", "10.0.0.3"], 6, 1, "new subnet")


@PROPERTY
@given(
    st.lists(
        st.one_of(
            st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
            st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address),
        ),
        unique=True,
        max_size=8,
    ),
    st.sampled_from([4, 6]),
)
def test_dns_accepts_only_its_family(addresses: list, version: int) -> None:
    raw = [str(a) for a in addresses]
    wrong = [text for text, a in zip(raw, addresses, strict=True) if a.version != version]
    if not wrong:
        assert parse_dns_nameservers(raw, version, 8, "new subnet") == raw
        return
    with pytest.raises(InvalidInput) as caught:
        parse_dns_nameservers(raw, version, 8, "new subnet")
    assert caught.value.message == invalid_input(
        f"dns_nameserver '{wrong[0]}' does not match the ip_version '{version}'"
    )


# --- host_routes ----------------------------------------------------------------------------


def route(destination: str, nexthop: str) -> dict[str, str]:
    return {"destination": destination, "nexthop": nexthop}


def test_host_routes_keep_order() -> None:
    raw = [
        route("2001:db8:9::/48", "2001:db8:1::1"),
        route("::/0", "2001:db8:1::fe"),
        route("2001:db8:5::/64", "fe80::1"),
    ]
    assert parse_host_routes(raw, 6, 5, "new subnet") == raw


def test_host_routes_normalise() -> None:
    raw = [route("2001:DB8:9::/48", "2001:DB8:1:0::1"), route("10.1.0.0/16", "10.0.0.1")]
    assert parse_host_routes(raw[:1], 6, 5, "s") == [route("2001:db8:9::/48", "2001:db8:1::1")]
    assert parse_host_routes(raw[1:], 4, 5, "s") == [route("10.1.0.0/16", "10.0.0.1")]


def test_host_routes_none_and_empty() -> None:
    assert parse_host_routes(None, 6, 5, "s") == []
    assert parse_host_routes([], 6, 5, "s") == []


@pytest.mark.parametrize(
    "raw",
    [
        [route("2001:db8:9::/48", "2001:db8:1::1"), route("2001:db8:9::/48", "2001:db8:1::1")],
        [route("2001:db8:9::/48", "2001:db8:1::1"), route("2001:DB8:9::/48", "2001:db8:1:0::1")],
    ],
)
def test_host_routes_refuse_duplicates(raw: list[dict]) -> None:
    with pytest.raises(HTTPBadRequest) as caught:
        parse_host_routes(raw, 6, 5, "s")
    assert caught.value.message.startswith("Invalid input for host_routes. Reason: ")
    assert "Duplicate hostroute" in caught.value.message


def test_host_routes_same_destination_other_nexthop_is_not_a_duplicate() -> None:
    raw = [route("2001:db8:9::/48", "2001:db8:1::1"), route("2001:db8:9::/48", "2001:db8:1::2")]
    assert parse_host_routes(raw, 6, 5, "s") == raw


@pytest.mark.parametrize(
    "item",
    [
        route("not-a-cidr", "2001:db8::1"),
        route("2001:db8::/129", "2001:db8::1"),
        route("2001:db8:9::/48", "not-an-ip"),
        route("2001:db8:9::/48", "2001:db8::/64"),
        route("2001:db8:9::", "2001:db8::1"),  # an address is not a destination
        {"destination": "2001:db8:9::/48"},
        {"nexthop": "2001:db8::1"},
        {"destination": "2001:db8:9::/48", "nexthop": "2001:db8::1", "extra": 1},
        "2001:db8:9::/48,2001:db8::1",
        None,
    ],
)
def test_host_routes_refuse_invalid_items(item: object) -> None:
    with pytest.raises(HTTPBadRequest) as caught:
        parse_host_routes([item], 6, 5, "s")
    assert caught.value.status == 400
    assert caught.value.message.startswith("Invalid input for host_routes. Reason: ")


@pytest.mark.parametrize("raw", [route("::/0", "2001:db8::1"), "x", 1])
def test_host_routes_refuse_non_lists(raw: object) -> None:
    with pytest.raises(HTTPBadRequest):
        parse_host_routes(raw, 6, 5, "s")


@pytest.mark.parametrize(
    ("version", "item"),
    [
        (6, route("2001:db8:9::/48", "10.0.0.1")),
        (6, route("10.9.0.0/16", "2001:db8::1")),
        (6, route("10.9.0.0/16", "10.0.0.1")),
        (4, route("2001:db8:9::/48", "10.0.0.1")),
        (4, route("10.9.0.0/16", "2001:db8::1")),
    ],
)
def test_host_routes_version_mismatch(version: int, item: dict) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_host_routes([item], version, 5, "s")
    assert caught.value.status == 400
    assert caught.value.type == "InvalidInput"


@pytest.mark.parametrize(
    ("item", "text"),
    [
        (
            route("2001:db8:9::/48", "10.0.0.1"),
            "nexthop '10.0.0.1' does not match the ip_version '6'",
        ),
        (
            route("10.9.0.0/16", "2001:db8::1"),
            "destination '10.9.0.0/16' does not match the ip_version '6'",
        ),
    ],
)
def test_host_routes_version_mismatch_neutron_text(item: dict, text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_host_routes([item], 6, 5, "s")
    assert caught.value.message == invalid_input(text)


@pytest.mark.parametrize(
    ("version", "item"),
    [
        (4, route("10.9.0.1/16", "10.0.0.1")),
        (6, route("2001:db8:9::1/48", "2001:db8::1")),
        (4, route("127.0.0.0/8", "10.0.0.1")),
        (6, route("::1/128", "2001:db8::1")),
    ],
)
def test_host_routes_refuse_host_bits_and_loopback(version: int, item: dict) -> None:
    with pytest.raises(HTTPBadRequest):
        parse_host_routes([item], version, 5, "s")


@pytest.mark.parametrize(
    ("version", "item", "text"),
    [
        (4, route("10.9.0.1/16", "10.0.0.1"), "'10.9.0.1/16' is not a valid CIDR"),
        (6, route("2001:db8:9::1/48", "2001:db8::1"), "'2001:db8:9::1/48' is not a valid CIDR"),
        (6, route("2001:db8:9::", "2001:db8::1"), "'2001:db8:9::' is not a valid CIDR"),
        (6, route("not-a-cidr", "2001:db8::1"), "'not-a-cidr' is not a valid CIDR"),
        (6, route("2001:db8::%x/64", "2001:db8::1"), "'2001:db8::%x/64' is not a valid CIDR"),
        (4, route("127.0.0.0/8", "10.0.0.1"), "'127.0.0.0/8' is not a routable CIDR"),
        (4, route("127.1.0.0/16", "10.0.0.1"), "'127.1.0.0/16' is not a routable CIDR"),
        (6, route("::1/128", "2001:db8::1"), "'::1/128' is not a routable CIDR"),
        (6, route("2001:db8:9::/48", "fe80::1%eth0"), "'fe80::1%eth0' is not a valid IP address"),
        # The destination's form is checked before any family.
        (6, route("10.9.0.1/16", "10.0.0.1"), "'10.9.0.1/16' is not a valid CIDR"),
    ],
)
def test_host_routes_destination_neutron_text(version: int, item: dict, text: str) -> None:
    with pytest.raises(HTTPBadRequest) as caught:
        parse_host_routes([item], version, 5, "s")
    assert_bad_request(
        caught.value, HTTPBadRequest, f"Invalid input for host_routes. Reason: {text}."
    )


def test_host_routes_accept_default_routes_and_wide_loopback_supernets() -> None:
    """Only a destination inside 127.0.0.0/8 (or ::1/128) is loopback."""
    raw = [route("0.0.0.0/0", "10.0.0.1"), route("126.0.0.0/7", "10.0.0.1")]
    assert parse_host_routes(raw, 4, 5, "s") == raw


def test_host_routes_nexthop_family_reported_first() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_host_routes([route("10.9.0.0/16", "10.0.0.1")], 6, 5, "s")
    assert caught.value.message == invalid_input(
        "nexthop '10.0.0.1' does not match the ip_version '6'"
    )


def test_host_routes_family_named_as_sent() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_host_routes([route("2001:DB8:9::/48", "2001:db8::1")], 4, 5, "s")
    assert caught.value.message == invalid_input(
        "nexthop '2001:db8::1' does not match the ip_version '4'"
    )
    with pytest.raises(InvalidInput) as caught:
        parse_host_routes([route("2001:DB8:9::/48", "10.0.0.1")], 4, 5, "s")
    assert caught.value.message == invalid_input(
        "destination '2001:DB8:9::/48' does not match the ip_version '4'"
    )


def test_host_routes_limit_checked_before_the_family() -> None:
    """Neutron's _validate_subnet counts the routes before it checks their family."""
    raw = [route("10.1.0.0/16", "10.0.0.1"), route("10.2.0.0/16", "10.0.0.1")]
    with pytest.raises(HostRoutesExhausted):
        parse_host_routes(raw, 6, 1, "s")


def test_host_routes_limit() -> None:
    raw = [route(f"2001:db8:{i}::/48", "2001:db8::1") for i in range(1, 4)]
    assert parse_host_routes(raw, 6, 3, "s") == raw
    with pytest.raises(HostRoutesExhausted) as caught:
        parse_host_routes([*raw, route("2001:db8:9::/48", "2001:db8::1")], 6, 3, "subnet-1")
    assert caught.value.status == 400
    assert caught.value.message == (
        "Unable to complete operation for subnet-1. The number of host routes exceeds the limit 3."
    )
