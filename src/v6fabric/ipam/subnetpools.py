"""Carving subnets out of subnet pool prefixes."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from v6fabric.domain.addresses import IPNetwork


def collapse(prefixes: Sequence[IPNetwork]) -> list[IPNetwork]:
    """Neutron stores pool prefixes merged: adjacent and nested ones become one."""
    return list(ipaddress.collapse_addresses(prefixes))  # type: ignore[arg-type]


def within_pool(prefixes: Sequence[IPNetwork], cidr: IPNetwork) -> bool:
    return any(cidr.version == p.version and cidr.subnet_of(p) for p in prefixes)  # type: ignore[arg-type]


def allocate_prefix(
    prefixes: Sequence[IPNetwork], used: Sequence[IPNetwork], prefixlen: int
) -> IPNetwork | None:
    """The lowest free prefix of length ``prefixlen`` that overlaps no used prefix."""
    for pool in sorted(prefixes, key=lambda p: (p.version, int(p.network_address))):
        if prefixlen < pool.prefixlen or prefixlen > pool.max_prefixlen:
            continue
        taken = sorted(
            (u for u in used if u.version == pool.version and u.overlaps(pool)),  # type: ignore[arg-type]
            key=lambda u: int(u.network_address),
        )
        block = 1 << (pool.max_prefixlen - prefixlen)
        candidate = int(pool.network_address)
        last = int(pool.broadcast_address)
        while candidate + block - 1 <= last:
            net = type(pool)((candidate, prefixlen))
            clash = next((u for u in taken if u.overlaps(net)), None)  # type: ignore[arg-type]
            if clash is None:
                return net
            end = max(int(clash.broadcast_address), candidate + block - 1)
            candidate = ((end + 1 + block - 1) // block) * block
    return None
