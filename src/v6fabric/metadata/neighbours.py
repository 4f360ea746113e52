"""The MAC a namespace's neighbour table holds for an address on an interface (rtnetlink).

One ``RTM_GETNEIGH`` request per lookup on a netlink socket that was opened inside the
namespace (a socket stays in the namespace it was made in), kept per namespace. Standard
library only: this is a 40-byte request and one reply, not worth a netlink library (the
drivers avoid pyroute2 for the same reason).

A request from a guest always finds an entry: the TCP handshake made the kernel resolve the
guest's address before the first byte of the request arrived, and the entry's MAC is where
our answers go. An entry without a link-layer address (INCOMPLETE, FAILED) is no answer.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Protocol

from v6fabric.drivers.netns import run_in_netns

log = logging.getLogger(__name__)

RTM_NEWNEIGH = 28
RTM_GETNEIGH = 30
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
NDA_DST = 1
NDA_LLADDR = 2
_NLMSGHDR = struct.Struct("=IHHII")
_NDMSG = struct.Struct("=BBHiHBB")
_RTATTR = struct.Struct("=HH")


class NeighbourLookup(Protocol):
    def mac(self, namespace: str, ifindex: int, address: str) -> str | None:
        """The lower-case MAC held for ``address`` on ``ifindex`` in ``namespace``, or None."""
        ...

    def forget(self, namespace: str) -> None:
        """Drop what is kept for ``namespace`` (its listeners were closed or reopened)."""
        ...


def _align(n: int) -> int:
    return (n + 3) & ~3


def neigh_request(seq: int, ifindex: int, address: str) -> bytes:
    """An RTM_GETNEIGH for one entry (kernel >= 4.20), IPv4 or IPv6 by the address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    dst = ip.packed
    attr = _RTATTR.pack(_RTATTR.size + len(dst), NDA_DST) + dst
    body = _NDMSG.pack(family, 0, 0, ifindex, 0, 0, 0) + attr
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETNEIGH, NLM_F_REQUEST, seq, 0) + body


def parse_reply(data: bytes, seq: int) -> tuple[bool, str | None]:
    """(whether ``data`` answers ``seq``, the MAC it gives): no MAC for an error reply or an
    entry without one; not an answer when ``data`` holds only stale replies (read on)."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, got_seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            return True, None
        start, offset = offset + _NLMSGHDR.size, offset + _align(length)
        if got_seq != seq:
            continue
        if kind != RTM_NEWNEIGH:
            return True, None  # NLMSG_ERROR: ENOENT (no entry), ENODEV (no such interface)
        pos = start + _NDMSG.size
        end = start - _NLMSGHDR.size + length
        while pos + _RTATTR.size <= end:
            alen, atype = _RTATTR.unpack_from(data, pos)
            if alen < _RTATTR.size:
                break
            if atype == NDA_LLADDR:
                return True, data[pos + _RTATTR.size : pos + alen].hex(":")
            pos += _align(alen)
        return True, None
    return False, None


class NetlinkNeighbours:
    """``NeighbourLookup`` on this machine: one netlink socket per namespace, opened inside it
    by ``run_in_netns`` (``open_socket`` is replaceable for tests)."""

    def __init__(
        self,
        open_socket: Callable[[str], socket.socket] | None = None,
        timeout: float = 0.5,
    ) -> None:
        self._open = open_socket or _open_in_namespace
        self._timeout = timeout
        self._sockets: dict[str, socket.socket] = {}
        self._seq = 0
        self._lock = threading.Lock()

    def mac(self, namespace: str, ifindex: int, address: str) -> str | None:
        with self._lock:
            try:
                return self._ask(namespace, ifindex, address)
            except OSError as exc:
                log.warning("neighbour lookup in %s failed: %s", namespace, exc)
                self._drop(namespace)
                return None

    def _ask(self, namespace: str, ifindex: int, address: str) -> str | None:
        sock = self._sockets.get(namespace)
        if sock is None:
            sock = self._sockets[namespace] = self._open(namespace)
            sock.settimeout(self._timeout)
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        sock.send(neigh_request(self._seq, ifindex, address))
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            answered, mac = parse_reply(sock.recv(65536), self._seq)
            if answered:
                return mac
        return None

    def _drop(self, namespace: str) -> None:
        sock = self._sockets.pop(namespace, None)
        if sock is not None:
            sock.close()

    def forget(self, namespace: str) -> None:
        with self._lock:
            self._drop(namespace)

    def close(self) -> None:
        with self._lock:
            for namespace in list(self._sockets):
                self._drop(namespace)


def _open_in_namespace(namespace: str) -> socket.socket:
    def make() -> socket.socket:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        sock.bind((0, 0))
        return sock

    return run_in_netns(namespace, make) if namespace else make()  # "": our own namespace
