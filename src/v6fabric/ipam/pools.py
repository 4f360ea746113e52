"""Allocation pools: the default pools around a gateway, and the rules a given pool must obey."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from v6fabric.domain.addresses import IPAddress, IPNetwork, parse_ip
from v6fabric.domain.errors import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
)

Pool = tuple[IPAddress, IPAddress]


def usable_range(cidr: IPNetwork) -> tuple[int, int]:
    """Neutron's pool bounds: no network address, nor IPv4 broadcast, as guests cannot use them.

    An IPv4 /31 or /32 has neither (RFC 3021), so there Neutron lets pools use every address.
    """
    first, last = int(cidr.network_address), int(cidr.broadcast_address)
    if cidr.version == 4:
        return (first, last) if cidr.prefixlen >= 31 else (first + 1, last - 1)
    return first + 1, last


def default_pools(cidr: IPNetwork, gateway: IPAddress | None) -> list[Pool]:
    """Every usable address (see ``usable_range``) with the gateway cut out."""
    if cidr.num_addresses == 1:
        return [(cidr.network_address, cidr.network_address)]  # Neutron's single-address case
    start, end = usable_range(cidr)
    if start > end:
        return []
    cls = type(cidr.network_address)
    ranges = [(start, end)]
    if gateway is not None and start <= int(gateway) <= end:
        g = int(gateway)
        ranges = [(s, e) for s, e in ((start, g - 1), (g + 1, end)) if s <= e]
    return [(cls(s), cls(e)) for s, e in ranges]


def parse_pools(cidr: IPNetwork, raw: Sequence[dict]) -> list[Pool]:
    """Parse ``[{"start", "end"}]`` and enforce Neutron's pool rules (order, bounds, overlap)."""
    low, high = usable_range(cidr)
    pools: list[Pool] = []
    for item in raw:
        start, end = parse_ip(item.get("start")), parse_ip(item.get("end"))
        text = f"{item.get('start')}-{item.get('end')}"
        if start is None or end is None or start.version != end.version or start > end:
            raise InvalidAllocationPool(pool=text)
        if start.version != cidr.version or int(start) < low or int(end) > high:
            raise OutOfBoundsAllocationPool(pool=text, subnet_cidr=cidr)
        pools.append((start, end))
    ordered = sorted(pools)
    for (s1, e1), (s2, e2) in itertools.pairwise(ordered):
        if s2 <= e1:
            raise OverlappingAllocationPools(
                pool_1=f"{s1}-{e1}", pool_2=f"{s2}-{e2}", subnet_cidr=cidr
            )
    return pools


def check_gateway_outside_pools(gateway: IPAddress | None, pools: Sequence[Pool]) -> None:
    if gateway is None:
        return
    for start, end in pools:
        if start <= gateway <= end:
            raise GatewayConflictWithAllocationPools(ip_address=gateway, pool=f"{start}-{end}")


def pools_to_wire(pools: Sequence[Pool]) -> list[dict[str, str]]:
    return [{"start": str(s), "end": str(e)} for s, e in pools]


def pools_from_wire(raw: Sequence[dict[str, str]]) -> list[tuple[int, int]]:
    """Stored pools as integer ranges, the form the allocator works on."""
    return [(int(parse_ip(p["start"])), int(parse_ip(p["end"]))) for p in raw]  # type: ignore[arg-type]
