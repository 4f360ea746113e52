"""The API's listening sockets, some of them inside another network namespace.

A socket stays in the namespace it was made in, so a server in one namespace can also listen
in another: a lab's server listens on 127.0.0.1 for the test and the CLI, and on the
controller's addresses inside the underlay namespace for the agents of its hosts.
"""

from __future__ import annotations

import ipaddress
import socket

from v6fabric.drivers.netns import run_in_netns

BACKLOG = 2048  # uvicorn's default
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


def listening_socket(address: str, port: int) -> socket.socket:
    """A TCP socket bound to ``address``/``port`` in this thread's namespace, listening.
    Free-bind: an IPv6 address still in DAD (or not yet added) does not fail the start."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.set_inheritable(False)
    except BaseException:
        sock.close()
        raise
    return sock


def listening_sockets(
    api_host: str, port: int, netns: str | None, addresses: list[str]
) -> list[socket.socket]:
    """The main socket (``api_host`` here), then one per address in ``netns`` (None: here)."""
    made = [listening_socket(api_host, port)]
    try:
        for address in addresses:
            if netns is None:
                made.append(listening_socket(address, port))
            else:
                made.append(run_in_netns(netns, lambda a=address: listening_socket(a, port)))
    except BaseException:
        for sock in made:
            sock.close()
        raise
    return made
