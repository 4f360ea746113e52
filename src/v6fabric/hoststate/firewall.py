"""What one host must enforce for its ports: port security (first-hop guards) and security groups.

Part of the southbound contract (to be carried by ``HostState``), kept self-contained here.
Addresses are text (``2001:db8::5/128``, ``10.0.0.0/24``); every tuple is sorted and without
duplicates when the value is built, so two equal firewall states are equal values (and hash
alike) whatever order the compiler produced them in.

Decisions the renderer relies on:

* A port's allowed sources are its fixed IPs (with the port's MAC) and its allowed address pairs
  (with the pair's MAC, or the port's when the pair names none). The EUI-64 link-local of each of
  those MACs is implied, as in Neutron: the compiler does not list it. A guest that forms
  another link-local (stable-privacy) needs it as an allowed address pair.
* The router and DHCP ports of a network are the local ports with role "router" / "dhcp" on it
  (``FirewallSpec.ra_taps``): they may send RAs and DHCP replies, and, like Neutron's
  network-owned ports, are never guarded and have no groups whatever ``port_security`` says.
  RAs reaching a workload from outside this host (a provider's upstream router, a router port
  on another host) are allowed only from the link-locals in ``FirewallNetwork.ra_sources``.
* ``zone`` is the conntrack zone of the network: overlapping tenant prefixes never share state.
* Security group rules use Neutron's meaning, with ICMP type and code in their own fields
  (Neutron stores them in port_range_min/max). A rule has a remote prefix, a remote group, or
  neither (any remote), never both.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields

from v6fabric.hoststate import buckets
from v6fabric.hoststate.buckets import bucket_key as member_bucket  # of a member's address

ROLES = ("workload", "router", "dhcp")
DIRECTIONS = ("ingress", "egress")
ETHERTYPES = ("IPv4", "IPv6")


def _normalise(value: object) -> None:
    """Sort and de-duplicate every tuple field of a frozen dataclass, in place."""
    for f in fields(value):  # type: ignore[arg-type]
        item = getattr(value, f.name)
        if isinstance(item, tuple):
            object.__setattr__(value, f.name, tuple(sorted(set(item), key=_sort_key)))


@functools.lru_cache(maxsize=1 << 16)  # a compile re-sorts mostly the same ports and groups
def _sort_key(item: object) -> tuple[str, ...]:
    if isinstance(item, str):
        return ("", item)
    return tuple(repr(getattr(item, f.name)) for f in fields(item))  # type: ignore[arg-type]


@dataclass(frozen=True)
class AllowedAddress:
    """A source a port may send from, and the MAC its frames must then carry."""

    cidr: str  # a fixed IP as /128 or /32, or an allowed address pair's prefix
    mac: str


@dataclass(frozen=True)
class FirewallPort:
    """A port on this host. ``port_security=False``: no guard, no group, nothing filtered."""

    port_id: str
    tap: str
    network_id: str
    mac: str
    role: str = "workload"  # "workload" | "router" | "dhcp"
    port_security: bool = True
    allowed: tuple[AllowedAddress, ...] = ()
    security_groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _normalise(self)


@dataclass(frozen=True)
class FirewallNetwork:
    network_id: str
    bridge: str  # v6b-<id11>
    zone: int  # conntrack zone, 1..65535, unique on the host
    ra_sources: tuple[str, ...] = ()  # link-locals allowed to send RAs from outside the host
    # The bridge's ports that lead off the host (``vx-``, ``gt-`` taps, a provider network's
    # interface or ``vl-`` sub-interface), and addresses whose neighbour discovery must never
    # cross them, in either direction (``hoststate.dvr``): a distributed router's gateway
    # addresses, its legs' shared link-local, the metadata address. Dropped on the uplinks:
    # NS and NA whose target is one of them, NS/NA/RA/redirect sent from one; ARP whose sender
    # or target IP is one (IPv4 addresses among them).
    uplinks: tuple[str, ...] = ()
    local_only: tuple[str, ...] = ()  # plain addresses, IPv6 and IPv4

    def __post_init__(self) -> None:
        _normalise(self)


@dataclass(frozen=True)
class SecurityGroupRule:
    direction: str  # "ingress" (to the port) | "egress" (from the port)
    ethertype: str  # "IPv4" | "IPv6"
    protocol: int | None = None  # IP protocol number; None: any
    port_min: int | None = None  # tcp, udp, sctp, dccp, udplite: destination port range
    port_max: int | None = None
    icmp_type: int | None = None  # icmp (1) and ipv6-icmp (58) only
    icmp_code: int | None = None
    remote_prefix: str | None = None
    remote_group: str | None = None
    rule_id: str = ""  # for the nft comment only


@dataclass(frozen=True)
class SecurityGroup:
    group_id: str
    stateful: bool = True  # False: no conntrack, replies need their own rules (as Neutron)
    rules: tuple[SecurityGroupRule, ...] = ()

    def __post_init__(self) -> None:
        _normalise(self)


def stable_numbers(keys: Iterable[str], space: int) -> dict[str, int]:
    """A number in 1..``space`` per key, from a hash of the key, probed past collisions in key
    order: a key keeps its number while others come and go (a network its conntrack zone, a
    port its nft mark), so nothing keyed by it is rewritten."""
    numbers: dict[str, int] = {}
    taken: set[int] = set()
    for key in sorted(set(keys)):
        number = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % space + 1
        while number in taken:
            number = number % space + 1
        taken.add(number)
        numbers[key] = number
    return numbers


@dataclass(frozen=True)
class MemberBucket:
    """One slice of a remote group's members: the unit that changes, travels and is diffed.

    A group of 100,000 members changes one bucket (~400 members) when a port joins, so the
    server re-encodes, the wire carries and the agent compares that bucket, not the group.
    """

    key: int  # member_bucket() of every address in it
    ipv6: tuple[str, ...] = ()
    ipv4: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _normalise(self)


@dataclass(frozen=True)
class RemoteGroup:
    """Members' addresses of a group that rules name as remote: nft sets, updated in place.

    ``buckets``: the non-empty buckets, sorted by key; build with ``RemoteGroup.of``.
    """

    group_id: str
    buckets: tuple[MemberBucket, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "buckets", tuple(sorted(self.buckets, key=lambda bucket: bucket.key))
        )

    @classmethod
    def of(cls, group_id: str, ipv6: Iterable[str] = (), ipv4: Iterable[str] = ()) -> RemoteGroup:
        slices: dict[int, tuple[list[str], list[str]]] = {}
        for family, members in ((0, ipv6), (1, ipv4)):
            for cidr in members:
                slices.setdefault(member_bucket(cidr), ([], []))[family].append(cidr)
        return cls(
            group_id,
            tuple(MemberBucket(key, tuple(v6), tuple(v4)) for key, (v6, v4) in slices.items()),
        )

    @property
    def ipv6(self) -> tuple[str, ...]:
        return tuple(cidr for bucket in self.buckets for cidr in bucket.ipv6)

    @property
    def ipv4(self) -> tuple[str, ...]:
        return tuple(cidr for bucket in self.buckets for cidr in bucket.ipv4)


@dataclass(frozen=True)
class FirewallSpec:
    networks: tuple[FirewallNetwork, ...] = ()
    ports: tuple[FirewallPort, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    remote_groups: tuple[RemoteGroup, ...] = ()

    def __post_init__(self) -> None:
        groups = {group.group_id: group for group in self.remote_groups}
        object.__setattr__(self, "remote_groups", ())
        _normalise(self)  # by value: cheap for these, but not for 100,000 members
        object.__setattr__(self, "remote_groups", tuple(groups[g] for g in sorted(groups)))

    def ra_taps(self, network_id: str) -> tuple[str, ...]:
        """Taps of the network's router and DHCP ports on this host: they may send RAs."""
        return tuple(
            p.tap for p in self.ports if p.network_id == network_id and p.role != "workload"
        )


def changed_buckets(
    old: RemoteGroup | None, new: RemoteGroup | None
) -> Iterator[tuple[int, MemberBucket | None, MemberBucket | None]]:
    """``(key, old bucket, new bucket)`` for each bucket that differs (None: absent).

    A delta delivers unchanged buckets as the very same objects, so a group of 100,000 members
    costs 256 ``is`` tests (``buckets.changed``).
    """
    if old is new:
        return
    yield from buckets.changed(old.buckets if old else (), new.buckets if new else ())


def without_members(spec: FirewallSpec) -> FirewallSpec:
    """``spec`` with its remote groups' ids but none of their members: the part that ports and
    rules change, small at any membership. Equal parts give the very same object."""
    ids = tuple(group.group_id for group in spec.remote_groups)
    return _without_members(spec.networks, spec.ports, spec.security_groups, ids)


@functools.lru_cache(maxsize=8)
def _without_members(
    networks: tuple[FirewallNetwork, ...],
    ports: tuple[FirewallPort, ...],
    security_groups: tuple[SecurityGroup, ...],
    group_ids: tuple[str, ...],
) -> FirewallSpec:
    return FirewallSpec(networks, ports, security_groups, tuple(map(RemoteGroup, group_ids)))
