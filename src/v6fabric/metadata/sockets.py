"""Listening sockets inside a listener's namespace: ``[fe80::a9fe:a9fe%ifname]:80`` and, for
IPv4, ``169.254.169.254:80`` bound to the device.

A socket stays in the namespace it was created in, so one process in the host's namespace
serves them all: each is made in a short-lived thread that entered the namespace
(``run_in_netns``). FREEBIND lets the bind succeed before the agent has added the address;
SO_BINDTODEVICE keeps several listeners of one namespace (a router's legs) apart.

A socket outlives its namespace's name and its interface: when either is deleted and made
again, the socket still listens in the old one and nothing reaches it. ``still_current``
tells (the daemon asks every few seconds and reopens what is stale).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from v6fabric.drivers.netns import NETNS_RUN_DIR, run_in_netns
from v6fabric.hoststate.metadata import METADATA_IPV4, METADATA_IPV6, MetadataListener

IP_FREEBIND = 15
IPV6_FREEBIND = 78
HTTP_PORT = 80
BACKLOG = 1024


@dataclass(frozen=True)
class BoundListener:
    """A listener's open sockets and the ifindex its requests arrive on (neighbour lookups)."""

    listener: MetadataListener
    ifindex: int
    sockets: tuple[socket.socket, ...]
    netns_inode: int | None = None  # of the namespace they were made in (None: not checked)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


ListenerFactory = Callable[[MetadataListener], BoundListener]


def _listening(family: int, address: tuple[object, ...], ifname: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_here(listener: MetadataListener, port: int = HTTP_PORT) -> BoundListener:
    """The listener's sockets in the calling thread's namespace (OSError if the interface is
    missing: the caller retries later)."""
    ifindex = socket.if_nametoindex(listener.ifname)
    made = [_listening(socket.AF_INET6, (METADATA_IPV6, port, 0, ifindex), listener.ifname)]
    try:
        if listener.ipv4:
            made.append(_listening(socket.AF_INET, (METADATA_IPV4, port), listener.ifname))
    except BaseException:
        for sock in made:
            with contextlib.suppress(OSError):
                sock.close()
        raise
    return BoundListener(listener, ifindex, tuple(made))


def open_in_namespace(listener: MetadataListener) -> BoundListener:
    """The real ``ListenerFactory``: ``bind_here`` inside ``listener.namespace``."""

    def bind() -> BoundListener:
        inode = os.stat("/proc/thread-self/ns/net").st_ino  # the namespace entered, exactly
        return dataclasses.replace(bind_here(listener), netns_inode=inode)

    return run_in_netns(listener.namespace, bind)


def still_current(bound: BoundListener) -> bool:
    """Whether ``bound``'s namespace and interface are still the ones named in its listener
    (False also when either is gone). Blocking: a stat and a short thread in the namespace."""
    if bound.netns_inode is None:
        return True
    listener = bound.listener
    try:
        if os.stat(os.path.join(NETNS_RUN_DIR, listener.namespace)).st_ino != bound.netns_inode:
            return False
        ifindex = run_in_netns(listener.namespace, lambda: socket.if_nametoindex(listener.ifname))
    except OSError:
        return False
    return ifindex == bound.ifindex
