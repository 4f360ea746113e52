"""Who is asking (pure): the port behind a request, from the network it arrived from, its
source address and the MAC the neighbour table holds for that address.

The source address alone can be forged from inside a workload; the MAC in the neighbour
table is where the answer's packets go, so a workload claiming another port's address either
never completes the TCP handshake or shows its own MAC. Anything not matching all three
fails closed (None).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from v6fabric.hoststate.metadata import MetadataPort, MetadataSpec

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=8192)  # peers repeat; parsing was most of a lookup's 16 us
def parse_address(text: str) -> IPAddress | None:
    """A peer or config address as an ``ipaddress`` object: any ``%zone`` and ``/len`` dropped,
    IPv4-mapped IPv6 unmapped; None if it is not an address."""
    plain = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_interface(plain).ip if "/" in plain else ipaddress.ip_address(plain)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class PortIndex:
    """Ports by (network id, address); several when ports share an address (an allowed
    address pair such as a VRRP address): the MAC then decides."""

    by_address: Mapping[tuple[str, IPAddress], tuple[MetadataPort, ...]]


def index_ports(spec: MetadataSpec) -> PortIndex:
    """Built once per config, so a request costs one dict lookup."""
    found: dict[tuple[str, IPAddress], tuple[MetadataPort, ...]] = {}
    for port in spec.ports:
        for text in port.addresses:
            address = parse_address(text)
            if address is not None:
                key = (port.network_id, address)
                found[key] = (*found.get(key, ()), port)
    return PortIndex(found)


def identify(
    index: PortIndex, network_id: str, source: str, mac: str | None
) -> MetadataPort | None:
    """The port that sent a request from ``source`` on ``network_id`` with link-layer address
    ``mac`` (None: the neighbour table knows none), or None."""
    if not mac:
        return None
    address = parse_address(source)
    if address is None:
        return None
    wanted = mac.lower()
    for port in index.by_address.get((network_id, address), ()):
        if port.mac.lower() == wanted:
            return port
    return None
