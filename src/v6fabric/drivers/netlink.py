"""Namespaces, links, addresses and routes: what the agent reads and the operations it applies.

The values (``Link``, ``Route``, ``NetnsView``; one operation = one line of ``ip -batch``) and
the ``Netlink`` protocol. The real adapter, ``IpNetlink``, is ``drivers.iproute``; the fake
beside it is ``drivers.fake``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from v6fabric.drivers.neighbors import DeleteNeighbor, Neighbor, ReplaceNeighbor

# Our route protocol number (0x6f): routes we install carry it, so routes of other origins
# (kernel, ra, static, dhcp, ...) are never touched. Unassigned in iproute2's rt_protos.
RTPROT_V6FABRIC = 0x6F


# --- what is read --------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One network interface as the kernel reports it."""

    name: str
    ifindex: int
    kind: str | None  # linkinfo kind: "bridge", "veth", "tun", ...; None for lo and plain devices
    mac: str
    mtu: int
    up: bool  # administratively up (IFF_UP), whatever the carrier
    master: str | None = None
    peer_ifindex: int | None = None  # veth: the peer's ifindex ...
    peer_netnsid: int | None = None  # ... and its namespace id as seen from here (None: same)
    addresses: tuple[str, ...] = ()  # CIDRs (link-locals included), normalised, sorted
    link_local_ready: bool = False  # a non-tentative fe80:: address exists
    stp: bool | None = None  # bridges only
    forward_delay: int | None = None  # bridges only, centiseconds
    vni: int | None = None  # VXLAN devices only: the segment ...
    vxlan_local: str | None = None  # ... the endpoint it sends from (normalised IP text) ...
    dstport: int | None = None  # ... the UDP port of its peers ...
    learning: bool | None = None  # ... and whether it learns remote MACs from the wire
    gre_key: int | None = None  # gretap/ip6gretap only: the key (ikey) ...
    tunnel_local: str | None = None  # ... and its endpoints (normalised IP text)
    tunnel_remote: str | None = None
    vlan_id: int | None = None  # 802.1Q sub-interfaces only: the id ...
    lower: str | None = None  # ... and the interface it is on (its name)
    isolated: bool | None = None  # a bridge port's ``isolated`` flag (None: not a bridge port)


@dataclass(frozen=True)
class Route:
    """A route of ours (protocol ``RTPROT_V6FABRIC``), normalised: ``::/0`` not ``default``."""

    destination: str
    gateway: str | None = None
    device: str | None = None


@dataclass(frozen=True)
class NetnsView:
    links: Mapping[str, Link] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    neighbors: tuple[Neighbor, ...] = ()  # the permanent entries (``drivers.neighbors``)


# --- what is applied: one operation = one line of `ip -batch` --------------------------------


@dataclass(frozen=True)
class AddBridge:
    netns: str | None
    name: str
    mtu: int


@dataclass(frozen=True)
class SetBridgeOptions:
    """No spanning tree and no forwarding delay: ports forward as soon as they are up."""

    netns: str | None
    name: str


@dataclass(frozen=True)
class AddVeth:
    netns: str | None
    name: str
    mtu: int
    peer: str
    peer_netns: str | None
    peer_mac: str


@dataclass(frozen=True)
class AddVxlan:
    """A VXLAN device that learns nothing from the wire unless ``learning``: its forwarding
    table is the agent's (``drivers.fdb``). UDP checksums as the kernel defaults (on over IPv6,
    where they are due)."""

    netns: str | None
    name: str
    mtu: int
    vni: int
    local: str
    dstport: int
    learning: bool = False


@dataclass(frozen=True)
class SetVxlanLearning:
    """Whether a VXLAN device learns remote MACs from the wire: changed in place (measured on
    this kernel: ``ip link set DEV type vxlan [no]learning`` on an enslaved, up device)."""

    netns: str | None
    name: str
    learning: bool


@dataclass(frozen=True)
class AddGretap:
    """A point-to-point Ethernet-over-GRE tap (``ip6gretap`` when the endpoints are IPv6),
    its key both ways."""

    netns: str | None
    name: str
    mtu: int
    key: int
    local: str
    remote: str


@dataclass(frozen=True)
class AddVlan:
    """An 802.1Q sub-interface ``name`` of ``lower`` with id ``vid``."""

    netns: str | None
    name: str
    mtu: int
    lower: str
    vid: int


@dataclass(frozen=True)
class SetBridgePort:
    """A bridge port's ``isolated`` flag: an isolated port forwards only to non-isolated ones."""

    netns: str | None
    name: str
    isolated: bool


@dataclass(frozen=True)
class SetLink:
    netns: str | None
    name: str
    master: str | None = None  # None: as it is; "": no master (nomaster)
    mtu: int | None = None
    mac: str | None = None
    up: bool | None = None


@dataclass(frozen=True)
class DeleteLink:
    netns: str | None
    name: str


@dataclass(frozen=True)
class AddAddress:
    """``deprecated``: preferred lifetime 0. Valid for what is addressed to it, never chosen
    as a source: a second link-local that only serves (the metadata address) must not become
    the source of the interface's own packets (DHCPv6 replies, RAs)."""

    netns: str | None
    ifname: str
    cidr: str
    deprecated: bool = False


@dataclass(frozen=True)
class DeleteAddress:
    netns: str | None
    ifname: str
    cidr: str


@dataclass(frozen=True)
class ReplaceRoute:
    netns: str | None
    route: Route


@dataclass(frozen=True)
class DeleteRoute:
    netns: str | None
    route: Route


LinkOp = (
    AddBridge
    | SetBridgeOptions
    | AddVeth
    | AddVxlan
    | SetVxlanLearning
    | AddGretap
    | AddVlan
    | SetBridgePort
    | SetLink
    | DeleteLink
    | AddAddress
    | DeleteAddress
    | ReplaceRoute
    | DeleteRoute
    | ReplaceNeighbor
    | DeleteNeighbor
)
DELETE_OPS = (DeleteLink, DeleteAddress, DeleteRoute, DeleteNeighbor)


class Netlink(Protocol):
    """Namespaces and their links, addresses and routes. Results are per operation: None when
    done, else the error text (a delete of something already gone counts as done)."""

    def namespaces(self) -> set[str]: ...

    def add_namespaces(self, names: Sequence[str]) -> list[str | None]: ...

    def delete_namespace(self, name: str) -> None: ...

    def namespace_pids(self, name: str) -> list[int]: ...

    def read(self, netns: str | None) -> NetnsView: ...

    def read_links(self, netns: str | None, names: Sequence[str]) -> dict[str, Link]:
        """Only these links (those that exist), with their addresses: a busy host namespace
        holds thousands, and a pass usually cares about one or two."""
        ...

    def apply(self, netns: str | None, ops: Sequence[LinkOp]) -> list[str | None]: ...


# --- helpers shared by the adapters ------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 14)  # every address of every port, on every plan
def normalise_cidr(text: str) -> str:
    """``2001:DB8::1/64`` -> ``2001:db8::1/64``; ``default`` stays for the caller to resolve."""
    return ipaddress.ip_interface(text).with_prefixlen


def normalise_destination(text: str, *, ipv6: bool) -> str:
    if text == "default":
        return "::/0" if ipv6 else "0.0.0.0/0"
    return str(ipaddress.ip_network(text, strict=False))


def is_ipv6(text: str) -> bool:
    return ":" in text


_GONE = (
    "Cannot find device",
    "No such process",
    "Cannot assign requested address",
    "Address not found",
    "No such",
)


def tolerated(op: Any, message: str) -> bool:
    """A delete of something already gone, or a namespace that already exists, is done."""
    if isinstance(op, DELETE_OPS):
        return any(gone in message for gone in _GONE)
    return isinstance(op, str) and op.startswith("netns add") and "File exists" in message
