"""Unit tests for ``v6fabric.domain.addresses``: MAC parsing, EUI-64 and IP/CIDR parsing."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6fabric.domain.addresses import (
    MAC_PREFIX,
    eui64_address,
    eui64_link_local,
    generate_mac,
    is_valid_port_mac,
    parse_cidr,
    parse_ip,
    parse_ip_or_cidr,
    parse_mac,
)

PROPERTY = settings(max_examples=200, deadline=None)

mac_bytes = st.binary(min_size=6, max_size=6)
prefixes_64 = st.integers(min_value=0, max_value=2**64 - 1).map(
    lambda high: ipaddress.IPv6Network((high << 64, 64))
)


def mac_text(raw: bytes, sep: str = ":", upper: bool = False) -> str:
    text = sep.join(f"{b:02x}" for b in raw)
    return text.upper() if upper else text


# --- EUI-64 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "mac", "expected"),
    [
        # neutron-api.md §2: the Neutron documentation's example.
        ("2001:db8::/64", "00:01:02:03:04:05", "2001:db8::201:2ff:fe03:405"),
        # neutron-api.md, observed on Neutron 29.0.0.
        ("2001:db8:1::/64", "fa:16:3e:12:34:56", "2001:db8:1:0:f816:3eff:fe12:3456"),
        # The U/L bit already set is cleared by the flip.
        ("2001:db8::/64", "02:00:00:00:00:01", "2001:db8::ff:fe00:1"),
        ("2001:db8::/64", "ff:ff:ff:ff:ff:ff", "2001:db8::fdff:ffff:feff:ffff"),
    ],
)
def test_eui64_known_values(prefix: str, mac: str, expected: str) -> None:
    assert eui64_address(ipaddress.IPv6Network(prefix), mac) == ipaddress.IPv6Address(expected)


def test_eui64_link_local() -> None:
    assert eui64_link_local("fa:16:3e:12:34:56") == ipaddress.IPv6Address(
        "fe80::f816:3eff:fe12:3456"
    )
    assert eui64_link_local("00:01:02:03:04:05") == ipaddress.IPv6Address("fe80::201:2ff:fe03:405")


@PROPERTY
@given(prefix=prefixes_64, raw=mac_bytes)
def test_eui64_shape(prefix: ipaddress.IPv6Network, raw: bytes) -> None:
    address = eui64_address(prefix, mac_text(raw))
    assert address in prefix
    iid = (int(address) & (2**64 - 1)).to_bytes(8, "big")
    assert iid[3:5] == b"\xff\xfe"
    assert iid[0] == raw[0] ^ 0x02  # universal/local bit flipped
    assert iid[1:3] == raw[1:3]
    assert iid[5:] == raw[3:]
    # Neutron's detector for EUI-64 addresses (neutron-api.md §2).
    assert (int(address) & 0xFFFF000000) == 0xFFFE000000
    # oslo_utils' formula: prefix.first + int(EUI(mac).eui64()) ^ (1 << 57).
    eui64 = int.from_bytes(raw[:3] + b"\xff\xfe" + raw[3:], "big")
    assert int(address) == int(prefix.network_address) + (eui64 ^ (1 << 57))


# Two different MACs: any non-zero difference, often a single bit (the nearest neighbours).
mac_differences = st.one_of(st.integers(0, 47).map(lambda bit: 1 << bit), st.integers(1, 2**48 - 1))


@PROPERTY
@given(prefix=prefixes_64, a=mac_bytes, difference=mac_differences)
def test_eui64_injective_in_mac(prefix: ipaddress.IPv6Network, a: bytes, difference: int) -> None:
    b = (int.from_bytes(a, "big") ^ difference).to_bytes(6, "big")
    assert eui64_address(prefix, mac_text(a)) != eui64_address(prefix, mac_text(b))


@PROPERTY
@given(a=prefixes_64, b=prefixes_64, raw=mac_bytes)
def test_eui64_same_iid_on_every_prefix(
    a: ipaddress.IPv6Network, b: ipaddress.IPv6Network, raw: bytes
) -> None:
    mac = mac_text(raw)
    low = 2**64 - 1
    assert int(eui64_address(a, mac)) & low == int(eui64_address(b, mac)) & low
    assert int(eui64_link_local(mac)) & low == int(eui64_address(a, mac)) & low


# --- MAC parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:01:02:03:04:05", "00:01:02:03:04:05"),
        ("00-01-02-03-04-05", "00:01:02:03:04:05"),
        ("FA:16:3E:AB:CD:EF", "fa:16:3e:ab:cd:ef"),
        ("Fa-16-3e-Ab-cD-eF", "fa:16:3e:ab:cd:ef"),
        ("fa163eabcdef", "fa:16:3e:ab:cd:ef"),
        ("FFFFFFFFFFFF", "ff:ff:ff:ff:ff:ff"),
    ],
)
def test_parse_mac_normalises(text: str, expected: str) -> None:
    assert parse_mac(text) == expected


@PROPERTY
@given(raw=mac_bytes, sep=st.sampled_from([":", "-", ""]), upper=st.booleans())
def test_parse_mac_any_spelling(raw: bytes, sep: str, upper: bool) -> None:
    assert parse_mac(mac_text(raw, sep, upper)) == mac_text(raw)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00:01:02:03:04",
        "00:01:02:03:04:05:06",
        "00:01:02-03:04:05",  # mixed separators
        "00:01:02:03:04-05",
        "0:1:2:3:4:5",
        "00:01:02:03:04:0g",
        "00::01:02:03:04:05",
        "00.01.02.03.04.05",
        "0001.0203.0405",
        " 00:01:02:03:04:05",
        "00:01:02:03:04:05 ",
        "00:01:02:03:04:05:",
        "0001020304050",
        "fa163eabcdef\n",
        "00-01-02-03-04-05\n",
        "00:01:02:03:04:05\r\n",
        "\n00:01:02:03:04:05",
    ],
)
def test_parse_mac_refuses_malformed(text: str) -> None:
    assert parse_mac(text) is None


@pytest.mark.parametrize("value", [None, 1, b"00:01:02:03:04:05", ["00:01:02:03:04:05"]])
def test_parse_mac_refuses_non_strings(value: object) -> None:
    assert parse_mac(value) is None  # type: ignore[arg-type]


def test_parse_mac_refuses_trailing_newline() -> None:
    assert parse_mac("00:01:02:03:04:05\n") is None


@pytest.mark.parametrize(
    ("mac", "valid"),
    [
        ("00:01:02:03:04:05", True),
        ("fa:16:3e:12:34:56", True),
        ("02:00:00:00:00:01", True),  # locally administered unicast
        ("fe:ff:ff:ff:ff:ff", True),
        ("00:00:00:00:00:00", False),
        ("ff:ff:ff:ff:ff:ff", False),  # broadcast
        ("01:00:5e:00:00:01", False),  # IPv4 multicast
        ("33:33:00:00:00:01", False),  # IPv6 multicast
        ("03:00:00:00:00:00", False),
    ],
)
def test_is_valid_port_mac(mac: str, valid: bool) -> None:
    assert is_valid_port_mac(mac) is valid


@PROPERTY
@given(raw=mac_bytes)
def test_is_valid_port_mac_is_unicast_and_not_zero(raw: bytes) -> None:
    expected = not (raw[0] & 1) and raw != bytes(6)
    assert is_valid_port_mac(mac_text(raw)) is expected


def test_generated_macs_are_openstack_unicast() -> None:
    macs = [generate_mac() for _ in range(500)]
    for mac in macs:
        assert mac.startswith(MAC_PREFIX + ":")
        assert MAC_PREFIX == "fa:16:3e"
        assert parse_mac(mac) == mac
        assert is_valid_port_mac(mac)
    # 24 random bits: a handful of collisions among 500 would already be astronomically rare.
    assert len(set(macs)) >= 490


def test_generate_mac_with_own_prefix() -> None:
    mac = generate_mac("02:00:00")
    assert mac.startswith("02:00:00:")
    assert parse_mac(mac) == mac
    assert is_valid_port_mac(mac)


# --- IP and CIDR parsing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", ipaddress.IPv4Address("10.0.0.1")),
        ("0.0.0.0", ipaddress.IPv4Address("0.0.0.0")),
        ("2001:db8::1", ipaddress.IPv6Address("2001:db8::1")),
        ("2001:DB8:0:0::1", ipaddress.IPv6Address("2001:db8::1")),
        ("::", ipaddress.IPv6Address("::")),
        ("::ffff:10.0.0.1", ipaddress.IPv6Address("::ffff:a00:1")),
    ],
)
def test_parse_ip(text: str, expected: object) -> None:
    assert parse_ip(text) == expected


def test_parse_ip_normalises_text() -> None:
    assert str(parse_ip("2001:DB8:0000::0001")) == "2001:db8::1"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "10.0.0",
        "10.0.0.256",
        "010.0.0.1",  # leading zeros are ambiguous (octal); Neutron refuses them too
        "2001:db8::g",
        "2001:db8:::1",
        "10.0.0.0/24",
        "2001:db8::/64",
        " 10.0.0.1",
        "10.0.0.1 ",
        None,
        167772161,
        b"10.0.0.1",
    ],
)
def test_parse_ip_refuses(value: object) -> None:
    assert parse_ip(value) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.0/24", "10.0.0.0/24"),
        ("10.0.0.77/24", "10.0.0.0/24"),  # host bits cleared, as Neutron normalises
        ("2001:db8::1/64", "2001:db8::/64"),
        ("2001:DB8::/48", "2001:db8::/48"),
        ("10.0.0.1/32", "10.0.0.1/32"),
        ("::/0", "::/0"),
    ],
)
def test_parse_cidr(text: str, expected: str) -> None:
    assert parse_cidr(text) == ipaddress.ip_network(expected)


def test_parse_cidr_strict_refuses_host_bits() -> None:
    assert parse_cidr("10.0.0.77/24", strict=True) is None
    assert parse_cidr("2001:db8::1/64", strict=True) is None
    assert parse_cidr("2001:db8::/64", strict=True) == ipaddress.IPv6Network("2001:db8::/64")


@pytest.mark.parametrize(
    "value",
    ["10.0.0.1", "2001:db8::1", "10.0.0.0/33", "2001:db8::/129", "x/24", "10.0.0.0/", "", None, 24],
)
def test_parse_cidr_refuses(value: object) -> None:
    assert parse_cidr(value) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", "10.0.0.1/32"),
        ("2001:db8::1", "2001:db8::1/128"),
        ("10.0.0.0/24", "10.0.0.0/24"),
        ("2001:db8::/64", "2001:db8::/64"),
    ],
)
def test_parse_ip_or_cidr(text: str, expected: str) -> None:
    assert parse_ip_or_cidr(text) == ipaddress.ip_network(expected)


@pytest.mark.parametrize("value", ["10.0.0.1/24", "2001:db8::1/64", "nonsense", "", None, 1])
def test_parse_ip_or_cidr_refuses(value: object) -> None:
    assert parse_ip_or_cidr(value) is None


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (parse_ip, "fe80::1%eth0"),
        (parse_ip, "2001:db8::5%1"),
        (parse_cidr, "2001:db8::%x/64"),
        (parse_ip_or_cidr, "2001:db8::1%x"),
    ],
)
def test_parsers_refuse_ipv6_zone_ids(parser: object, text: str) -> None:
    assert parser(text) is None  # type: ignore[operator]


@pytest.mark.parametrize(
    ("parser", "text", "without_zone"),
    [
        (parse_ip, "fe80::1%eth0", "fe80::1"),
        (parse_ip, "fe80::1%25eth0", "fe80::1"),  # the URI spelling of a zone id
        (parse_cidr, "fe80::%eth0/64", "fe80::/64"),
        (parse_ip_or_cidr, "fe80::%1/64", "fe80::/64"),
        (parse_ip_or_cidr, "fe80::1%eth0", "fe80::1"),
    ],
)
def test_only_the_zone_id_is_refused(parser: object, text: str, without_zone: str) -> None:
    assert parser(text) is None  # type: ignore[operator]
    assert parser(without_zone) is not None  # type: ignore[operator]
