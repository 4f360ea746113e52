"""A state delta applied to the state it is based on (``sections.apply``).

Every part the delta does not name is the held state's very object; a changed bucket replaces
one bucket; a cut field is rebuilt from its held tuple and its changed buckets (``cuts``).
Nothing is normalised or validated again but the delta's own items: the agent checks the
result against the delta's ETag.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from v6fabric.hoststate import buckets, cuts
from v6fabric.hoststate.firewall import FirewallSpec, MemberBucket, RemoteGroup
from v6fabric.hoststate.metadata import MetadataSpec
from v6fabric.hoststate.model import DnsmasqSpec, HostState
from v6fabric.hoststate.names import BUCKET, BUCKETED, FIELDS, GROUPS, METADATA, bucketed


@dataclass(frozen=True)
class Delta:
    """What changed from the state hashing to ``base`` to the one hashing to ``etag``."""

    base: str
    etag: str
    revision: int
    changed: dict[str, Any] = field(default_factory=dict)  # name -> the new value
    removed: tuple[str, ...] = ()


def apply(previous: HostState, delta: Delta) -> HostState:
    """``previous`` with ``delta``'s sections: every unchanged part is ``previous``'s own object.

    Raises ValueError for a delta that does not fit (an unknown section, a bucket of a group
    that is not listed, a top-level section removed).
    """
    unknown = [name for name in delta.changed if _holder(name) is None]
    if unknown:
        raise ValueError(f"unknown sections {unknown}")
    if not all(_removable(name) for name in delta.removed):
        raise ValueError(f"only buckets are ever removed, not {list(delta.removed)}")
    edits = cuts.edits_of(delta.changed, delta.removed)
    top = {
        name: value
        for name, value in delta.changed.items()
        if name in FIELDS and FIELDS[name][0] is HostState and name not in cuts.BY_NAME
    }
    top.pop(cuts.DNSMASQ, None)  # its frames: the specs are put together below
    top.update(_cut_fields(previous, delta, edits))
    if cuts.DNSMASQ in delta.changed or any(cut.owner is DnsmasqSpec for cut in edits):
        top[cuts.DNSMASQ] = _dnsmasq(previous.dnsmasq, delta, edits)
    names = [*delta.changed, *delta.removed]
    firewall, metadata = previous.firewall, previous.metadata
    if any(_holder(name) is FirewallSpec for name in names):
        firewall = _apply_firewall(firewall, delta, edits)
    if any(_holder(name) is MetadataSpec for name in names):
        metadata = _apply_metadata(metadata, delta)
    return replace(previous, revision=delta.revision, firewall=firewall, metadata=metadata, **top)


def _removable(name: str) -> bool:
    """Buckets come and go; so does a cut field's whole section (when it starts to be cut)."""
    return name.startswith(BUCKET) or bucketed(name) is not None or cuts.parse(name) is not None


def _cut_fields(
    holder: Any, delta: Delta, edits: Mapping[cuts.Cut, Mapping[int, Any]]
) -> dict[str, Any]:
    """The new tuples of ``holder``'s cut fields that ``delta`` changes."""
    return {
        cut.attr: cut.applied(getattr(holder, cut.attr), edit, delta.changed, delta.removed)
        for cut, edit in edits.items()
        if cut.owner is type(holder)
    }


def _dnsmasq(
    previous: tuple[DnsmasqSpec, ...], delta: Delta, edits: Mapping[cuts.Cut, Mapping[int, Any]]
) -> tuple[DnsmasqSpec, ...]:
    """The specs from their frames (``dnsmasq``, sent or the held ones) and each one's hosts
    (rebuilt from the held spec's and the changed buckets); a spec whose frame and hosts are
    unchanged is the held one, and if all are, so is the tuple."""
    frames = delta.changed.get(cuts.DNSMASQ, cuts.frames(previous))
    hosts = {cut: edit for cut, edit in edits.items() if cut.owner is DnsmasqSpec}
    if not cuts.cut_hosts(frames):  # whole specs: buckets they had are removed
        if any(cut.name in delta.changed or any(edit.values()) for cut, edit in hosts.items()):
            raise ValueError("hosts of dnsmasq specs that are sent whole")
        return tuple(frames)
    held = {spec.namespace: spec for spec in previous} if cuts.cut_hosts(previous) else {}
    out = []
    for frame in frames:
        if frame.hosts:
            raise ValueError(f"the frame of {frame.namespace} has hosts")
        cut, old = cuts.hosts_cut(frame.namespace), held.get(frame.namespace)
        kept = old.hosts if old is not None else ()
        edit = hosts.pop(cut, None)
        new = kept if edit is None else cut.applied(kept, edit, delta.changed, delta.removed)
        if old is not None and new is kept and frame == cuts.frame(old):  # often the same
            out.append(old)
        else:
            values = {f.name: getattr(frame, f.name) for f in fields(DnsmasqSpec)}
            out.append(_trusted(DnsmasqSpec, **{**values, "hosts": new}))
    gone = [
        cut.name for cut, edit in hosts.items() if cut.name in delta.changed or any(edit.values())
    ]
    if gone:
        raise ValueError(f"hosts of no listed dnsmasq: {gone}")
    same = len(out) == len(previous) and all(map(operator.is_, out, previous))
    return previous if same else tuple(out)


def _apply_firewall(
    previous: FirewallSpec, delta: Delta, cut_edits: Mapping[cuts.Cut, Mapping[int, Any]]
) -> FirewallSpec:
    old = {group.group_id: group for group in previous.remote_groups}
    ids = delta.changed.get(GROUPS, tuple(old))
    edits: dict[str, dict[int, MemberBucket | None]] = {}
    for name in delta.removed:
        if name.startswith(BUCKET):
            group_id, key = _bucket_of(name)
            edits.setdefault(group_id, {})[key] = None
    for name, bucket in delta.changed.items():
        if name.startswith(BUCKET):
            group_id, key = _bucket_of(name)
            if not isinstance(bucket, MemberBucket) or bucket.key != key or group_id not in ids:
                raise ValueError(f"section {name!r} is not a bucket of a listed group")
            edits.setdefault(group_id, {})[key] = bucket
    groups = []
    for group_id in ids:
        group, edit = old.get(group_id), edits.get(group_id)
        if group is None or edit:
            kept = buckets.edited(group.buckets if group else (), edit or {})
            group = _trusted(RemoteGroup, group_id=group_id, buckets=kept)
        groups.append(group)
    values = {
        attr: delta.changed.get(name, getattr(previous, attr))
        for name, (owner, attr) in FIELDS.items()
        if owner is FirewallSpec
    }
    values.update(_cut_fields(previous, delta, cut_edits))
    return _trusted(FirewallSpec, **values, remote_groups=tuple(groups))


def _apply_metadata(previous: MetadataSpec, delta: Delta) -> MetadataSpec:
    values: dict[str, Any] = {
        "listeners": delta.changed.get(METADATA + "listeners", previous.listeners)
    }
    for part in BUCKETED:
        edits: dict[int, Any] = {}
        for name in delta.removed:
            if name.startswith(part.prefix):
                edits[_key_of(name, part.prefix)] = None
        for name, items in delta.changed.items():
            if name.startswith(part.prefix):
                key = _key_of(name, part.prefix)
                if not isinstance(items, tuple) or any(
                    buckets.bucket_key(part.cls.NAME(item), part.cls.COUNT) != key for item in items
                ):
                    raise ValueError(f"section {name!r} holds items of other buckets")
                edits[key] = _trusted(part.cls, key=key, **{part.items: items})
        kept = getattr(previous, part.attr)
        values[part.attr] = buckets.edited(kept, edits) if edits else kept
    return _trusted(MetadataSpec, **values)


def _key_of(name: str, prefix: str) -> int:
    key = name.removeprefix(prefix)
    if not key.isdigit():
        raise ValueError(f"not a bucket section: {name!r}")
    return int(key)


def _holder(name: str) -> type | None:
    """The class a section belongs to, None for a name that is no section."""
    if name in FIELDS:
        return FIELDS[name][0]
    cut = cuts.parse(name)
    if cut is not None:
        return FirewallSpec if cut[0].owner is FirewallSpec else HostState
    if bucketed(name):
        return MetadataSpec
    return FirewallSpec if name == GROUPS or name.startswith(BUCKET) else None


def _bucket_of(name: str) -> tuple[str, int]:
    group_id, _, key = name.removeprefix(BUCKET).rpartition("/")
    if not name.startswith(BUCKET) or not group_id or not key.isdigit():
        raise ValueError(f"not a bucket section: {name!r}")
    return group_id, int(key)


def _trusted(cls: type, **values: Any) -> Any:
    """A frozen dataclass from parts of a normalised state, without ``__post_init__``: sorting
    again would cost time and replace the objects of unchanged parts with equal copies."""
    made = object.__new__(cls)
    for f in fields(cls):
        object.__setattr__(made, f.name, values[f.name])
    return made
