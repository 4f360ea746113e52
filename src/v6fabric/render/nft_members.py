"""The nft sets of remote groups' members, and their changes bucket by bucket.

A group's host addresses (/128, /32) are a plain hash set, its wider prefixes (allowed address
pairs) a small interval set beside it: nft 1.0.6 reads an interval set back before every update
(seconds at 100,000 elements), a hash set it does not. Changes are diffed per bucket
(``changed_buckets``): one member joining a group of 100,000 parses and compares its bucket
(~400 members), not the group.
"""

from __future__ import annotations

import functools
import ipaddress

from v6fabric.hoststate.firewall import (
    FirewallSpec,
    MemberBucket,
    RemoteGroup,
    changed_buckets,
    member_bucket,
)
from v6fabric.render._common import IpNetwork, ip_prefix, prefix_text, without_nested
from v6fabric.render.nft_script import ElementChanges

VERSIONS = (6, 4)


def group_elements(group: RemoteGroup, version: int) -> tuple[frozenset[str], frozenset[str]]:
    """All elements of a group's host set and prefix set (a full render)."""
    hosts: set[str] = set()
    for bucket in group.buckets:
        hosts |= _bucket_hosts(bucket, version)
    return frozenset(hosts), _group_prefixes(group, version)


def member_sets(group_id: str, version: int) -> tuple[tuple[str, str], tuple[str, str]]:
    """The keys of a group's sets: host addresses (a hash set) and wider prefixes (an interval
    set: nft reads an interval set back before every update, seconds at 100,000 elements)."""
    return ("inet", f"rg{version}_{group_id}"), ("inet", f"rg{version}n_{group_id}")


def member_changes(old: FirewallSpec, new: FirewallSpec) -> dict[tuple[str, str], ElementChanges]:
    """Element deletes and adds of the member sets of ``new``'s groups, from changed buckets
    only. A member is in one bucket (a function of its text), so its element leaves or joins
    exactly when its bucket says so: never added twice, never deleted while absent."""
    before = {group.group_id: group for group in old.remote_groups}
    changes: dict[tuple[str, str], ElementChanges] = {}
    for group in new.remote_groups:
        was = before.get(group.group_id)
        pairs = [(a, b) for _key, a, b in changed_buckets(was, group)]
        for version in VERSIONS if pairs else ():
            hosts, nets = member_sets(group.group_id, version)
            elements = [(_bucket_hosts(a, version), _bucket_hosts(b, version)) for a, b in pairs]
            gone = frozenset().union(*(a - b for a, b in elements))
            changes[hosts] = (gone, frozenset().union(*(b - a for a, b in elements)))
            if any(_prefix_members(a, version) != _prefix_members(b, version) for a, b in pairs):
                # rare (an address pair wider than one address): the interval set as a whole
                was_nets, now_nets = _group_prefixes(was, version), _group_prefixes(group, version)
                changes[nets] = (was_nets - now_nets, now_nets - was_nets)
    return changes


def _members(bucket: MemberBucket | None, version: int) -> tuple[str, ...]:
    if bucket is None:
        return ()
    return bucket.ipv6 if version == 6 else bucket.ipv4


def _prefix_members(bucket: MemberBucket | None, version: int) -> list[str]:
    """Members wider than one address (``/128`` or ``/32`` is always spelled: ``_member``)."""
    host = "/128" if version == 6 else "/32"
    return [m for m in _members(bucket, version) if not m.endswith(host)]


def _bucket_hosts(bucket: MemberBucket | None, version: int) -> frozenset[str]:
    """The host-set elements of a bucket; checks every member, and that it is in its bucket."""
    found = set()
    for member in _members(bucket, version):
        element = _member(member, version)
        if bucket is not None and member_bucket(member) != bucket.key:
            raise ValueError(f"member {member} is not in bucket {bucket.key}")
        if isinstance(element, str):
            found.add(element)
    return frozenset(found)


def _group_prefixes(group: RemoteGroup | None, version: int) -> frozenset[str]:
    """The interval-set elements of a group: its prefixes, those inside another dropped."""
    buckets = group.buckets if group is not None else ()
    nets = [_member(m, version) for b in buckets for m in _prefix_members(b, version)]
    return frozenset(prefix_text(n) for n in without_nested(nets))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1 << 18)  # a full render parses the members again
def _member(member: str, version: int) -> str | IpNetwork:
    """``2001:db8::5/128`` -> the host-set element ``2001:db8::5``; a wider prefix -> itself.

    Raises ``ValueError`` for the other family, host bits, or any spelling but ``ipaddress``'s
    (``2001:DB8::5/128``, ``2001:db8::5``): the bucket is a function of the text, so one
    element must have one text, or two buckets could hold it.
    """
    text, _slash, length = member.partition("/")
    if length == ("128" if version == 6 else "32"):
        address = ipaddress.ip_address(text)
        found: str | IpNetwork = str(address)
        spelled, family = f"{found}/{length}", address.version
    else:
        found = ip_prefix(member)
        spelled, family = str(found), found.version
    if family != version:
        raise ValueError(f"IPv{version} member list holds {member}")
    if spelled != member:
        raise ValueError(f"remote group member {member!r} is not spelled {spelled!r}")
    return found
