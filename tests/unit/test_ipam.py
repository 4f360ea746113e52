"""Unit tests for ``v6fabric.ipam``: allocation pools, the address allocator and subnet pools."""

from __future__ import annotations

import ipaddress
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v6fabric.domain.errors import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
)
from v6fabric.domain.subnet_rules import default_gateway
from v6fabric.ipam.allocator import SMALL_POOL, choose_address, pool_size
from v6fabric.ipam.pools import (
    check_gateway_outside_pools,
    default_pools,
    parse_pools,
    pools_from_wire,
    pools_to_wire,
    usable_range,
)
from v6fabric.ipam.subnetpools import allocate_prefix, collapse, within_pool

PROPERTY = settings(max_examples=200, deadline=None)
HEAVY = settings(max_examples=100, deadline=None)

ip = ipaddress.ip_address
net = ipaddress.ip_network


def pools_of(*pairs: tuple[str, str]) -> list[tuple[object, object]]:
    return [(ip(a), ip(b)) for a, b in pairs]


# --- default_pools --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "gateway", "expected"),
    [
        ("10.0.0.0/24", "10.0.0.1", [("10.0.0.2", "10.0.0.254")]),
        ("10.0.0.0/24", None, [("10.0.0.1", "10.0.0.254")]),
        ("10.0.0.0/24", "10.0.0.100", [("10.0.0.1", "10.0.0.99"), ("10.0.0.101", "10.0.0.254")]),
        ("10.0.0.0/24", "10.0.0.254", [("10.0.0.1", "10.0.0.253")]),
        ("10.0.0.0/24", "10.0.0.0", [("10.0.0.1", "10.0.0.254")]),  # never in the pool anyway
        ("10.0.0.0/24", "10.0.0.255", [("10.0.0.1", "10.0.0.254")]),
        ("10.0.0.0/24", "192.168.0.1", [("10.0.0.1", "10.0.0.254")]),  # gateway outside
        ("10.0.0.0/30", "10.0.0.1", [("10.0.0.2", "10.0.0.2")]),
        ("10.0.0.0/30", "10.0.0.2", [("10.0.0.1", "10.0.0.1")]),
        ("10.0.0.0/30", None, [("10.0.0.1", "10.0.0.2")]),
        ("10.0.0.7/32", None, [("10.0.0.7", "10.0.0.7")]),
        (
            "2001:db8:1::/64",
            "2001:db8:1::",
            [("2001:db8:1::1", "2001:db8:1::ffff:ffff:ffff:ffff")],
        ),
        ("2001:db8:1::/64", None, [("2001:db8:1::1", "2001:db8:1::ffff:ffff:ffff:ffff")]),
        (
            "2001:db8:1::/64",
            "2001:db8:1::1",
            [("2001:db8:1::2", "2001:db8:1::ffff:ffff:ffff:ffff")],
        ),
        (
            "2001:db8:1::/64",
            "2001:db8:1::ffff:ffff:ffff:ffff",
            [("2001:db8:1::1", "2001:db8:1::ffff:ffff:ffff:fffe")],
        ),
        (
            "2001:db8:1::/64",
            "2001:db8:1::8000:0:0:0",
            [
                ("2001:db8:1::1", "2001:db8:1::7fff:ffff:ffff:ffff"),
                ("2001:db8:1::8000:0:0:1", "2001:db8:1::ffff:ffff:ffff:ffff"),
            ],
        ),
        ("2001:db8::/126", "2001:db8::1", [("2001:db8::2", "2001:db8::3")]),
        ("2001:db8::/127", "2001:db8::", [("2001:db8::1", "2001:db8::1")]),
        ("2001:db8::/127", "2001:db8::1", []),
        ("2001:db8::/128", "2001:db8::", [("2001:db8::", "2001:db8::")]),  # as Neutron does
    ],
)
def test_default_pools(cidr: str, gateway: str | None, expected: list[tuple[str, str]]) -> None:
    gw = ip(gateway) if gateway else None
    assert default_pools(net(cidr), gw) == pools_of(*expected)


@pytest.mark.parametrize(
    ("gateway", "expected"),
    [(None, [("10.0.0.0", "10.0.0.1")]), ("10.0.0.1", [("10.0.0.0", "10.0.0.0")])],
)
def test_default_pools_ipv4_slash31(gateway: str | None, expected: list[tuple[str, str]]) -> None:
    gw = ip(gateway) if gateway else None
    assert default_pools(net("10.0.0.0/31"), gw) == pools_of(*expected)


@pytest.mark.parametrize(
    ("gateway", "expected"),
    [
        ("10.0.0.0", [("10.0.0.1", "10.0.0.1")]),
        ("192.168.0.1", [("10.0.0.0", "10.0.0.1")]),  # gateway outside the subnet
    ],
)
def test_default_pools_ipv4_slash31_other_gateways(
    gateway: str, expected: list[tuple[str, str]]
) -> None:
    assert default_pools(net("10.0.0.0/31"), ip(gateway)) == pools_of(*expected)


def test_default_pools_ipv4_slash31_with_the_default_gateway() -> None:
    """Neutron's /31 subnet: the default gateway takes one address, the pool the other."""
    cidr = net("10.0.0.0/31")
    gateway = default_gateway(cidr)
    assert gateway == ip("10.0.0.1")
    assert default_pools(cidr, gateway) == pools_of(("10.0.0.0", "10.0.0.0"))


@st.composite
def subnet_and_gateway(draw: st.DrawFn) -> tuple[object, object]:
    version = draw(st.sampled_from([4, 6]))
    if version == 4:
        cidr = ipaddress.IPv4Network(
            (draw(st.integers(0, 2**32 - 1)), draw(st.integers(8, 30))), strict=False
        )
    else:
        cidr = ipaddress.IPv6Network(
            (draw(st.integers(0, 2**128 - 1)), draw(st.integers(48, 127))), strict=False
        )
    first, last = int(cidr.network_address), int(cidr.broadcast_address)
    kind = draw(st.sampled_from(["none", "inside", "edge"]))
    if kind == "none":
        return cidr, None
    if kind == "edge":
        value = draw(st.sampled_from([first, first + 1, last - 1, last]))
    else:
        value = draw(st.integers(first, last))
    return cidr, type(cidr.network_address)(value)


@PROPERTY
@given(subnet_and_gateway())
def test_default_pools_properties(case: tuple) -> None:
    cidr, gateway = case
    pools = default_pools(cidr, gateway)
    first, last = int(cidr.network_address), int(cidr.broadcast_address)
    low, high = first + 1, last - (1 if cidr.version == 4 else 0)
    ranges = [(int(s), int(e)) for s, e in pools]
    for start, end in ranges:
        assert low <= start <= end <= high  # no network address, no IPv4 broadcast
        if gateway is not None:
            assert not start <= int(gateway) <= end
    for (_, e1), (s2, _) in itertools.pairwise(ranges):
        assert e1 + 1 < s2  # ordered, disjoint, and split only where the gateway was
        assert gateway is not None and int(gateway) == e1 + 1 == s2 - 1
    gateway_inside = gateway is not None and low <= int(gateway) <= high
    assert pool_size(ranges) == high - low + 1 - gateway_inside
    assert pools_from_wire(pools_to_wire(pools)) == ranges


# --- parse_pools / check_gateway_outside_pools ----------------------------------------------

V4 = net("10.0.0.0/24")
V6 = net("2001:db8:1::/64")


def wire(*pairs: tuple[object, object]) -> list[dict]:
    return [{"start": s, "end": e} for s, e in pairs]


def test_parse_pools_valid() -> None:
    raw = wire(("10.0.0.100", "10.0.0.200"), ("10.0.0.2", "10.0.0.10"), ("10.0.0.11", "10.0.0.11"))
    assert parse_pools(V4, raw) == pools_of(
        ("10.0.0.100", "10.0.0.200"), ("10.0.0.2", "10.0.0.10"), ("10.0.0.11", "10.0.0.11")
    )
    assert parse_pools(V6, wire(("2001:db8:1::10", "2001:db8:1::ffff"))) == pools_of(
        ("2001:db8:1::10", "2001:db8:1::ffff")
    )
    assert parse_pools(V4, []) == []


def test_parse_pools_normalises_ipv6_text() -> None:
    pools = parse_pools(V6, wire(("2001:DB8:1:0::10", "2001:db8:1::00ff")))
    assert pools_to_wire(pools) == [{"start": "2001:db8:1::10", "end": "2001:db8:1::ff"}]


@pytest.mark.parametrize(
    ("cidr", "item"),
    [
        (V4, {"start": "10.0.0.x", "end": "10.0.0.9"}),
        (V4, {"start": "10.0.0.2", "end": ""}),
        (V4, {"start": "10.0.0.2"}),
        (V4, {"end": "10.0.0.9"}),
        (V4, {"start": None, "end": "10.0.0.9"}),
        (V4, {"start": "10.0.0.9", "end": "10.0.0.2"}),  # reversed
        (V4, {"start": "10.0.0.2", "end": "2001:db8:1::9"}),  # mixed versions
        (V6, {"start": "2001:db8:1::9", "end": "2001:db8:1::2"}),
        (V6, {"start": "2001:db8:1::/64", "end": "2001:db8:1::9"}),
    ],
)
def test_parse_pools_invalid(cidr: object, item: dict) -> None:
    with pytest.raises(InvalidAllocationPool) as caught:
        parse_pools(cidr, [item])
    assert caught.value.status == 400
    assert (
        caught.value.message
        == f"The allocation pool {item.get('start')}-{item.get('end')} is not valid."
    )


@pytest.mark.parametrize(
    ("cidr", "start", "end"),
    [
        (V4, "10.0.1.1", "10.0.1.5"),
        (V4, "9.255.255.250", "10.0.0.5"),
        (V4, "10.0.0.250", "10.0.1.5"),
        (V4, "2001:db8:1::2", "2001:db8:1::5"),  # other version than the subnet
        (V6, "2001:db8:2::1", "2001:db8:2::5"),
        (V6, "2001:db8:1::ffff:ffff:ffff:fff0", "2001:db8:1:1::5"),
        (V6, "10.0.0.2", "10.0.0.5"),
    ],
)
def test_parse_pools_out_of_bounds(cidr: object, start: str, end: str) -> None:
    with pytest.raises(OutOfBoundsAllocationPool) as caught:
        parse_pools(cidr, wire((start, end)))
    assert caught.value.status == 400
    assert (
        caught.value.message
        == f"The allocation pool {start}-{end} spans beyond the subnet cidr {cidr}."
    )


@pytest.mark.parametrize(
    ("cidr", "start", "end"),
    [
        (V4, "10.0.0.0", "10.0.0.10"),
        (V4, "10.0.0.200", "10.0.0.255"),
        (V4, "10.0.0.0", "10.0.0.255"),
        (V6, "2001:db8:1::", "2001:db8:1::ff"),
    ],
)
def test_parse_pools_refuse_network_and_broadcast(cidr: object, start: str, end: str) -> None:
    with pytest.raises(OutOfBoundsAllocationPool):
        parse_pools(cidr, wire((start, end)))


@pytest.mark.parametrize(
    ("cidr", "start", "end"),
    [
        ("10.0.0.0/30", "10.0.0.1", "10.0.0.2"),
        ("10.0.0.0/24", "10.0.0.1", "10.0.0.254"),
        ("10.0.0.7/32", "10.0.0.7", "10.0.0.7"),  # no network or broadcast address on a /32
        ("2001:db8:1::/64", "2001:db8:1::1", "2001:db8:1::ffff:ffff:ffff:ffff"),  # no broadcast
        ("2001:db8::/127", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_parse_pools_bounds_inclusive(cidr: str, start: str, end: str) -> None:
    assert parse_pools(net(cidr), wire((start, end))) == pools_of((start, end))


@pytest.mark.parametrize(
    ("cidr", "start", "end"),
    [
        ("10.0.0.0/30", "10.0.0.0", "10.0.0.2"),
        ("10.0.0.0/30", "10.0.0.1", "10.0.0.3"),
        ("10.0.0.0/31", "10.0.0.0", "10.0.0.2"),
        ("2001:db8::/127", "2001:db8::", "2001:db8::1"),
        ("2001:db8::5/128", "2001:db8::5", "2001:db8::5"),  # Neutron: first+1 .. last is empty
    ],
)
def test_parse_pools_bounds_exclusive(cidr: str, start: str, end: str) -> None:
    with pytest.raises(OutOfBoundsAllocationPool) as caught:
        parse_pools(net(cidr), wire((start, end)))
    assert caught.value.message == (
        f"The allocation pool {start}-{end} spans beyond the subnet cidr {cidr}."
    )


@st.composite
def subnet_and_pool(draw: st.DrawFn) -> tuple[object, int, int]:
    """A subnet of any size and a pool of addresses inside it, often touching its edges."""
    kind = draw(st.sampled_from([ipaddress.IPv4Network, ipaddress.IPv6Network]))
    bits = 32 if kind is ipaddress.IPv4Network else 128
    cidr = kind((draw(st.integers(0, 2**bits - 1)), draw(st.integers(8, bits))), strict=False)
    first, last = int(cidr.network_address), int(cidr.broadcast_address)
    edges = st.sampled_from(sorted({first, min(first + 1, last), max(last - 1, first), last}))
    points = [draw(st.one_of(edges, st.integers(first, last))) for _ in range(2)]
    return cidr, min(points), max(points)


@PROPERTY
@given(subnet_and_pool())
def test_parse_pools_accepts_exactly_neutrons_bounds(case: tuple) -> None:
    cidr, start, end = case
    first, last = int(cidr.network_address), int(cidr.broadcast_address)
    if cidr.version == 6:
        low, high = first + 1, last
    elif cidr.prefixlen >= 31:
        low, high = first, last
    else:
        low, high = first + 1, last - 1
    assert usable_range(cidr) == (low, high)
    cls = type(cidr.network_address)
    raw = wire((str(cls(start)), str(cls(end))))
    if low <= start and end <= high:
        assert parse_pools(cidr, raw) == [(cls(start), cls(end))]
    else:
        with pytest.raises(OutOfBoundsAllocationPool):
            parse_pools(cidr, raw)


def test_parse_pools_ipv4_slash31_whole_range() -> None:
    cidr = net("10.0.0.0/31")
    assert parse_pools(cidr, wire(("10.0.0.0", "10.0.0.1"))) == pools_of(("10.0.0.0", "10.0.0.1"))


@pytest.mark.parametrize(
    "pairs",
    [
        [("10.0.0.2", "10.0.0.10"), ("10.0.0.10", "10.0.0.20")],  # touching at one address
        [("10.0.0.2", "10.0.0.10"), ("10.0.0.5", "10.0.0.20")],
        [("10.0.0.2", "10.0.0.50"), ("10.0.0.5", "10.0.0.20")],  # nested
        [("10.0.0.2", "10.0.0.10"), ("10.0.0.2", "10.0.0.10")],  # identical
        [("10.0.0.30", "10.0.0.40"), ("10.0.0.2", "10.0.0.3"), ("10.0.0.35", "10.0.0.60")],
        [("2001:db8:1::2", "2001:db8:1::ff"), ("2001:db8:1::80", "2001:db8:1::100")],
    ],
)
def test_parse_pools_overlapping(pairs: list[tuple[str, str]]) -> None:
    cidr = V6 if ":" in pairs[0][0] else V4
    with pytest.raises(OverlappingAllocationPools) as caught:
        parse_pools(cidr, wire(*pairs))
    assert caught.value.status == 409
    assert f"for subnet {cidr}." in caught.value.message


def test_parse_pools_adjacent_is_fine() -> None:
    raw = wire(("10.0.0.2", "10.0.0.10"), ("10.0.0.11", "10.0.0.20"))
    assert len(parse_pools(V4, raw)) == 2


def test_parse_pools_overlapping_neutron_text() -> None:
    with pytest.raises(OverlappingAllocationPools) as caught:
        parse_pools(V4, wire(("10.0.0.2", "10.0.0.10"), ("10.0.0.5", "10.0.0.20")))
    assert caught.value.message == (
        "Found overlapping allocation pools: 10.0.0.2-10.0.0.10 10.0.0.5-10.0.0.20 "
        "for subnet 10.0.0.0/24."
    )


@pytest.mark.parametrize("gateway", ["10.0.0.2", "10.0.0.5", "10.0.0.10"])
def test_gateway_inside_a_pool_conflicts(gateway: str) -> None:
    pools = pools_of(("10.0.0.20", "10.0.0.30"), ("10.0.0.2", "10.0.0.10"))
    with pytest.raises(GatewayConflictWithAllocationPools) as caught:
        check_gateway_outside_pools(ip(gateway), pools)
    assert caught.value.status == 409
    assert caught.value.message == (
        f"Gateway ip {gateway} conflicts with allocation pool 10.0.0.2-10.0.0.10."
    )


@pytest.mark.parametrize("gateway", ["10.0.0.1", "10.0.0.11", "10.0.0.19", "10.0.0.254", None])
def test_gateway_outside_pools_is_fine(gateway: str | None) -> None:
    pools = pools_of(("10.0.0.20", "10.0.0.30"), ("10.0.0.2", "10.0.0.10"))
    check_gateway_outside_pools(ip(gateway) if gateway else None, pools)


def test_ipv6_gateway_conflict() -> None:
    pools = parse_pools(V6, wire(("2001:db8:1::1", "2001:db8:1::ff")))
    check_gateway_outside_pools(ip("2001:db8:1::"), pools)
    with pytest.raises(GatewayConflictWithAllocationPools):
        check_gateway_outside_pools(ip("2001:db8:1::1"), pools)


def test_wire_round_trip() -> None:
    pools = pools_of(("2001:db8:1::1", "2001:db8:1::ff"), ("2001:db8:1::1:0", "2001:db8:1::1:ff"))
    raw = pools_to_wire(pools)
    assert raw == [
        {"start": "2001:db8:1::1", "end": "2001:db8:1::ff"},
        {"start": "2001:db8:1::1:0", "end": "2001:db8:1::1:ff"},
    ]
    assert pools_from_wire(raw) == [(int(s), int(e)) for s, e in pools]
    assert parse_pools(V6, raw) == pools


# --- allocator ------------------------------------------------------------------------------


def addresses_in(pools: list[tuple[int, int]]) -> list[int]:
    return [a for s, e in pools for a in range(s, e + 1)]


def some_free(pools: list[tuple[int, int]], used: set[int]) -> bool:
    """Whether any pool address is free, without listing a huge pool."""
    if len(used) < pool_size(pools):
        return True
    return any(a not in used for s, e in pools for a in range(s, e + 1))


def in_pools(address: int, pools: list[tuple[int, int]]) -> bool:
    return any(s <= address <= e for s, e in pools)


def test_pool_size() -> None:
    assert pool_size([]) == 0
    assert pool_size([(5, 5)]) == 1
    assert pool_size([(1, 10), (20, 29)]) == 20
    assert pool_size([(1, 2**64)]) == 2**64


def test_empty_pools_give_none() -> None:
    rng = random.Random(0)
    assert choose_address([], lambda a: False, set, rng) is None


@st.composite
def disjoint_pools(draw: st.DrawFn, sizes: st.SearchStrategy[int]) -> list[tuple[int, int]]:
    cursor = draw(st.integers(0, 2**96))
    pools = []
    for _ in range(draw(st.integers(1, 4))):
        start = cursor + draw(st.integers(0, 1000))
        end = start + draw(sizes) - 1
        pools.append((start, end))
        cursor = end + 1
    return draw(st.permutations(pools))


@st.composite
def small_case(draw: st.DrawFn) -> tuple[list[tuple[int, int]], set[int]]:
    """Pools of at most a few hundred addresses, with any used set, often the full one."""
    pools = draw(disjoint_pools(st.integers(1, 100)))
    everything = addresses_in(pools)
    used = draw(
        st.one_of(
            st.just(set(everything)),
            st.just(set(everything[1:])),
            st.sets(st.sampled_from(everything)),
        )
    )
    outside = draw(st.sets(st.integers(0, 2**97), max_size=5))
    return pools, used | {a for a in outside if not in_pools(a, pools)}


@st.composite
def crowded_case(draw: st.DrawFn) -> tuple[list[tuple[int, int]], set[int]]:
    """Just above SMALL_POOL, nearly or fully used: the random draws miss, the scan must find."""
    pools = draw(disjoint_pools(st.integers(SMALL_POOL // 4, SMALL_POOL)))
    everything = addresses_in(pools)
    free = draw(st.sets(st.sampled_from(everything), max_size=3))
    return pools, set(everything) - free


@st.composite
def huge_case(draw: st.DrawFn) -> tuple[list[tuple[int, int]], set[int]]:
    """/64-sized pools with a sprinkling of used addresses, inside and outside."""
    pools = draw(disjoint_pools(st.integers(2**40, 2**64)))
    used = set()
    for _ in range(draw(st.integers(0, 50))):
        start, end = draw(st.sampled_from(pools))
        used.add(draw(st.sampled_from([start, end, start + 1, end - 1])))
        used.add(draw(st.integers(start, end)))
    return pools, used


@HEAVY
@given(case=st.one_of(small_case(), crowded_case(), huge_case()), seed=st.integers(0, 2**32))
def test_choose_address_free_or_none(case: tuple, seed: int) -> None:
    pools, used = case
    address = choose_address(pools, used.__contains__, lambda: set(used), random.Random(seed))
    if address is None:
        assert not some_free(pools, used)
    else:
        assert in_pools(address, pools)
        assert address not in used


@HEAVY
@given(pools=disjoint_pools(st.integers(1, 40)), seed=st.integers(0, 2**32))
def test_sequential_allocation_until_exhaustion(pools: list[tuple[int, int]], seed: int) -> None:
    rng = random.Random(seed)
    used: set[int] = set()
    while (address := choose_address(pools, used.__contains__, lambda: set(used), rng)) is not None:
        assert in_pools(address, pools)
        assert address not in used
        used.add(address)
        assert len(used) <= pool_size(pools)
    assert len(used) == pool_size(pools)
    assert used == set(addresses_in(pools))
    assert choose_address(pools, used.__contains__, lambda: set(used), rng) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exhaustion_above_small_pool_size(seed: int) -> None:
    """Past SMALL_POOL the allocator draws at random first; it must still fill every address."""
    pools = [(1000, 1000 + SMALL_POOL), (5000, 5099)]
    rng = random.Random(seed)
    used: set[int] = set()
    taken_checks = 0

    def is_taken(address: int) -> bool:
        nonlocal taken_checks
        taken_checks += 1
        return address in used

    while (address := choose_address(pools, is_taken, lambda: set(used), rng)) is not None:
        assert in_pools(address, pools) and address not in used
        used.add(address)
    assert len(used) == pool_size(pools) == SMALL_POOL + 101
    assert taken_checks > 0


def test_huge_pool_does_not_snapshot_when_a_draw_succeeds() -> None:
    """On a /64 the allocator should only look candidates up, not read every allocation."""
    pools = [(2**64, 2**65 - 1)]

    def no_snapshot() -> set[int]:
        raise AssertionError("used_snapshot called on a nearly empty /64")

    for seed in range(20):
        address = choose_address(pools, lambda a: False, no_snapshot, random.Random(seed))
        assert address is not None and in_pools(address, pools)


def test_choose_address_deterministic_for_a_seed() -> None:
    pools = [(10, 500), (1000, 2**64)]
    first = [choose_address(pools, lambda a: False, set, random.Random(7)) for _ in range(3)]
    assert len(set(first)) == 1


# --- subnet pools ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefixes", "expected"),
    [
        (["10.0.0.0/25", "10.0.0.128/25"], ["10.0.0.0/24"]),
        (["10.0.0.0/24", "10.0.0.64/26"], ["10.0.0.0/24"]),
        (["10.0.1.0/24", "10.0.0.0/24", "10.0.2.0/23"], ["10.0.0.0/22"]),
        (["10.0.0.0/24", "10.0.2.0/24"], ["10.0.0.0/24", "10.0.2.0/24"]),
        (["10.0.1.0/24", "10.0.2.0/24"], ["10.0.1.0/24", "10.0.2.0/24"]),  # adjacent, unaligned
        (["2001:db8::/33", "2001:db8:8000::/33"], ["2001:db8::/32"]),
        (["2001:db8::/48", "2001:db8::/56", "2001:db8:1::/48"], ["2001:db8::/47"]),
    ],
)
def test_collapse(prefixes: list[str], expected: list[str]) -> None:
    assert collapse([net(p) for p in prefixes]) == [net(p) for p in expected]


small_v4_prefixes = st.builds(
    lambda address, length: ipaddress.IPv4Network((address, length), strict=False),
    st.integers(0x0A000000, 0x0A00FFFF),
    st.integers(18, 30),
)


def covered(prefixes: list) -> set[int]:
    return {
        a for p in prefixes for a in range(int(p.network_address), int(p.broadcast_address) + 1)
    }


@HEAVY
@given(st.lists(small_v4_prefixes, min_size=1, max_size=6))
def test_collapse_keeps_the_address_set(prefixes: list) -> None:
    merged = collapse(prefixes)
    assert covered(merged) == covered(prefixes)
    assert sum(p.num_addresses for p in merged) == len(covered(prefixes))  # pairwise disjoint
    assert collapse(merged) == merged


def test_within_pool() -> None:
    pool = [net("10.0.0.0/16"), net("2001:db8::/32")]
    assert within_pool(pool, net("10.0.5.0/24"))
    assert within_pool(pool, net("10.0.0.0/16"))
    assert within_pool(pool, net("2001:db8:5::/64"))
    assert not within_pool(pool, net("10.0.0.0/15"))
    assert not within_pool(pool, net("10.1.0.0/24"))
    assert not within_pool(pool, net("2001:db9::/64"))
    assert not within_pool([net("10.0.0.0/16")], net("2001:db8::/64"))


@pytest.mark.parametrize(
    ("prefixes", "used", "prefixlen", "expected"),
    [
        (["10.0.0.0/16"], [], 24, "10.0.0.0/24"),
        (["10.0.0.0/16"], ["10.0.0.0/24"], 24, "10.0.1.0/24"),
        (["10.0.0.0/16"], ["10.0.0.0/26"], 24, "10.0.1.0/24"),
        (["10.0.0.0/16"], ["10.0.0.0/26"], 26, "10.0.0.64/26"),
        (["10.0.0.0/16"], ["10.0.0.0/20", "10.0.16.0/24"], 22, "10.0.20.0/22"),
        (["10.0.0.0/24"], ["10.0.0.0/24"], 26, None),
        (["10.0.0.0/24"], ["10.0.0.0/8"], 26, None),  # a used supernet covers all
        (["10.0.0.0/24"], [], 23, None),  # bigger than the pool
        (["10.0.0.0/24"], [], 33, None),
        (["10.0.0.0/24", "10.1.0.0/24"], ["10.0.0.0/24"], 25, "10.1.0.0/25"),
        (["10.1.0.0/24", "10.0.0.0/24"], [], 25, "10.0.0.0/25"),
        (["2001:db8::/48"], ["2001:db8::/64"], 64, "2001:db8:0:1::/64"),
        (["2001:db8::/48"], ["2001:db8::/56"], 56, "2001:db8:0:100::/56"),
        (["2001:db8::/48", "10.0.0.0/16"], ["10.0.0.0/24"], 24, "10.0.1.0/24"),
        (["2001:db8::/48"], ["10.0.0.0/8"], 64, "2001:db8::/64"),  # other family ignored
    ],
)
def test_allocate_prefix_examples(
    prefixes: list[str], used: list[str], prefixlen: int, expected: str | None
) -> None:
    result = allocate_prefix([net(p) for p in prefixes], [net(u) for u in used], prefixlen)
    assert result == (net(expected) if expected else None)


def free_blocks(prefixes: list, used: list, prefixlen: int) -> list:
    """Brute force: every aligned block of ``prefixlen`` in a pool prefix that overlaps no used one."""
    blocks = set()
    for pool in prefixes:
        if prefixlen < pool.prefixlen:
            continue
        for block in pool.subnets(new_prefix=prefixlen):
            if not any(block.overlaps(u) for u in used):
                blocks.add(block)
    return sorted(blocks)


def lowest_free_block(prefixes: list, used: list, prefixlen: int) -> object:
    """Independent oracle by interval arithmetic: the first aligned block in a gap between used."""
    found = []
    for pool in prefixes:
        if not pool.prefixlen <= prefixlen <= pool.max_prefixlen:
            continue
        size = 1 << (pool.max_prefixlen - prefixlen)
        low, high = int(pool.network_address), int(pool.broadcast_address)
        taken = sorted(
            (int(u.network_address), int(u.broadcast_address))
            for u in used
            if u.version == pool.version
        )
        cursor = low
        for start, end in [*taken, (high + 1, high + 1)]:
            aligned = -(-cursor // size) * size
            if aligned + size - 1 <= min(start - 1, high):
                found.append(type(pool)((aligned, prefixlen)))
                break
            cursor = max(cursor, end + 1)
            if cursor > high:
                break
    return min(found, key=lambda n: (n.version, int(n.network_address)), default=None)


@HEAVY
@given(
    prefixes=st.lists(small_v4_prefixes, min_size=1, max_size=3),
    used=st.lists(
        st.builds(
            lambda address, length: ipaddress.IPv4Network((address, length), strict=False),
            st.integers(0x0A000000, 0x0A00FFFF),
            st.integers(16, 30),
        ),
        max_size=8,
    ),
    prefixlen=st.integers(16, 30),
)
def test_allocate_prefix_matches_brute_force(prefixes: list, used: list, prefixlen: int) -> None:
    result = allocate_prefix(prefixes, used, prefixlen)
    free = free_blocks(prefixes, used, prefixlen)
    assert lowest_free_block(prefixes, used, prefixlen) == (free[0] if free else None)
    if not free:
        assert result is None
        return
    assert result is not None
    assert result.prefixlen == prefixlen
    assert within_pool(prefixes, result)
    assert not any(result.overlaps(u) for u in used)
    assert result == free[0]  # the lowest free block


@HEAVY
@given(
    pool_ids=st.lists(st.integers(0, 255), min_size=1, max_size=3, unique=True),
    used=st.lists(
        st.builds(
            lambda address, length: ipaddress.IPv6Network((address, length), strict=False),
            st.integers(0x20010DB8 << 96, (0x20010DB8 << 96) + 2**88),
            st.integers(44, 72),
        ),
        max_size=20,
    ),
    prefixlen=st.integers(48, 64),
)
def test_allocate_prefix_ipv6_properties(pool_ids: list[int], used: list, prefixlen: int) -> None:
    prefixes = [ipaddress.IPv6Network(((0x20010DB8 << 96) + (i << 80), 48)) for i in pool_ids]
    result = allocate_prefix(prefixes, used, prefixlen)
    assert result == lowest_free_block(prefixes, used, prefixlen)
    if result is None:
        return
    assert result.prefixlen == prefixlen
    assert within_pool(prefixes, result)
    assert not any(result.overlaps(u) for u in used)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), prefixlen=st.integers(25, 29))
def test_allocate_prefix_until_full(seed: int, prefixlen: int) -> None:
    """Carving one block after another fills a pool exactly, with no overlap."""
    rng = random.Random(seed)
    prefixes = [net("10.0.0.0/24"), net("10.0.4.0/25")]
    used = [net(f"10.0.0.{rng.randrange(0, 256, 4)}/30") for _ in range(rng.randrange(4))]
    carved = []
    while (block := allocate_prefix(prefixes, used + carved, prefixlen)) is not None:
        assert not any(block.overlaps(other) for other in used + carved)
        carved.append(block)
    assert carved == free_blocks(prefixes, used, prefixlen)
