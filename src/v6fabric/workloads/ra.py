"""Router advertisements as a guest sees them: a passive ICMPv6 listener, and router solicits.

The kernel does SLAAC, default routes and on-link prefixes from RAs itself (``accept_ra=1``),
but it neither starts a DHCPv6 client from the M and O flags nor uses RDNSS/DNSSL: that is the
job of the guest's network manager. The guest agent therefore opens a raw ICMPv6 socket inside
the workload's namespace with a filter that passes only RAs. Raw sockets get a copy of every
RA the namespace receives (periodic or solicited, whoever solicited it) without disturbing the
kernel's own processing, and ``IPV6_PKTINFO`` tells on which interface it arrived.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

ND_ROUTER_SOLICIT = 133
ND_ROUTER_ADVERT = 134

OPT_PREFIX_INFORMATION = 3
OPT_MTU = 5
OPT_RDNSS = 25
OPT_DNSSL = 31

INFINITE = 0xFFFFFFFF
ICMP6_FILTER = 1  # linux/icmpv6.h: setsockopt(IPPROTO_ICMPV6, ICMPV6_FILTER)
ALL_ROUTERS = "ff02::2"


@dataclass(frozen=True)
class PrefixInfo:
    prefix: IPv6Network
    on_link: bool
    autonomous: bool
    valid_lifetime: int
    preferred_lifetime: int


@dataclass(frozen=True)
class RouterAdvert:
    router: IPv6Address  # the link-local source
    managed: bool  # M: addresses from DHCPv6
    other: bool  # O: other configuration (DNS) from DHCPv6
    router_lifetime: int  # 0: not a default router (isolated network RAs)
    prefixes: tuple[PrefixInfo, ...] = ()
    mtu: int | None = None
    rdnss: tuple[tuple[IPv6Address, int], ...] = ()  # (server, lifetime in seconds)
    dnssl: tuple[tuple[str, int], ...] = ()  # (domain, lifetime in seconds)


def parse_ra(data: bytes, router: IPv6Address) -> RouterAdvert | None:
    """The RA in ``data`` (the ICMPv6 message, as a raw socket delivers it), None if not one."""
    if len(data) < 16 or data[0] != ND_ROUTER_ADVERT or data[1] != 0:
        return None
    flags = data[5]
    (router_lifetime,) = struct.unpack_from("!H", data, 6)
    prefixes: list[PrefixInfo] = []
    rdnss: list[tuple[IPv6Address, int]] = []
    dnssl: list[tuple[str, int]] = []
    mtu: int | None = None
    pos = 16
    while pos + 2 <= len(data):
        kind, units = data[pos], data[pos + 1]
        end = pos + units * 8
        if units == 0 or end > len(data):
            return None  # RFC 4861 4.6: a zero-length option invalidates the packet
        body = data[pos:end]
        if kind == OPT_PREFIX_INFORMATION and units == 4:
            valid, preferred = struct.unpack_from("!II", body, 4)
            prefix = IPv6Network((IPv6Address(body[16:32]), body[2]), strict=False)
            prefixes.append(
                PrefixInfo(prefix, bool(body[3] & 0x80), bool(body[3] & 0x40), valid, preferred)
            )
        elif kind == OPT_MTU and units == 1:
            (mtu,) = struct.unpack_from("!I", body, 4)
        elif kind == OPT_RDNSS and units >= 3:
            (lifetime,) = struct.unpack_from("!I", body, 4)
            for off in range(8, len(body) - 15, 16):
                rdnss.append((IPv6Address(body[off : off + 16]), lifetime))
        elif kind == OPT_DNSSL and units >= 2:
            (lifetime,) = struct.unpack_from("!I", body, 4)
            dnssl.extend((name, lifetime) for name in _domain_names(body[8:]))
        pos = end
    return RouterAdvert(
        router=router,
        managed=bool(flags & 0x80),
        other=bool(flags & 0x40),
        router_lifetime=router_lifetime,
        prefixes=tuple(prefixes),
        mtu=mtu,
        rdnss=tuple(rdnss),
        dnssl=tuple(dnssl),
    )


def _domain_names(data: bytes) -> list[str]:
    """DNS wire-format names (RFC 1035 3.1, uncompressed), followed by zero padding."""
    names: list[str] = []
    labels: list[str] = []
    pos = 0
    while pos < len(data):
        length = data[pos]
        pos += 1
        if length == 0:
            if labels:
                names.append(".".join(labels))
                labels = []
            continue
        if length > 63 or pos + length > len(data):
            break
        labels.append(data[pos : pos + length].decode("ascii", "replace").lower())
        pos += length
    return names


def _filter_only(*types: int) -> bytes:
    """A struct icmp6_filter passing only ``types`` (a set bit blocks a type)."""
    words = [0xFFFFFFFF] * 8
    for kind in types:
        words[kind >> 5] &= ~(1 << (kind & 31))
    return struct.pack("=8I", *words)


class RaSocket:
    """Receives every RA of the current network namespace; sends router solicitations."""

    def __init__(self) -> None:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, _filter_only(ND_ROUTER_ADVERT))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.setblocking(False)
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def solicit(self, ifindex: int) -> None:
        """Send an RS to all-routers on one interface (no source link-layer option: the
        source may be an optimistic address, RFC 4429 3.2). The kernel fills the checksum."""
        self._sock.sendto(
            bytes([ND_ROUTER_SOLICIT, 0, 0, 0, 0, 0, 0, 0]), (ALL_ROUTERS, 0, 0, ifindex)
        )

    def receive(self) -> list[tuple[int, RouterAdvert]]:
        """All RAs waiting on the socket, as (ifindex, advert); invalid ones are dropped."""
        adverts: list[tuple[int, RouterAdvert]] = []
        while True:
            try:
                data, ancdata, _flags, addr = self._sock.recvmsg(65535, 256)
            except (BlockingIOError, InterruptedError):
                return adverts
            ifindex, hoplimit = 0, 0
            for level, kind, value in ancdata:
                if level != socket.IPPROTO_IPV6:
                    continue
                if kind == socket.IPV6_PKTINFO and len(value) >= 20:
                    (ifindex,) = struct.unpack_from("=I", value, 16)
                elif kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                    (hoplimit,) = struct.unpack_from("=i", value, 0)
            source = ipaddress.ip_address(addr[0].split("%", 1)[0])
            if hoplimit != 255 or not isinstance(source, IPv6Address) or not source.is_link_local:
                continue  # RFC 4861 6.1.2: hop limit 255 and a link-local source
            advert = parse_ra(data, source)
            if advert is not None:
                adverts.append((ifindex, advert))
