"""``HostState`` as named sections: the unit that is hashed, sent and kept between revisions.

At 100,000 members of a remote group a host's state is 3 MB, and a member joining changes one
bucket of it. Cut into sections (each top-level part, each firewall part, the list of remote
groups and each group's member bucket), the server hashes and encodes only what changed (a
section's encoding is memoized by value), the wire carries only the changed sections (a delta)
and the agent decodes only those and keeps the very objects of the rest: its firewall diff
skips a bucket when ``old is new``.

The metadata proxy's config is cut the same way: with thousands of workloads, each with up to
64 KB of user_data, it is megabytes, and one workload changes one bucket of its instances.

So are the per-item tuples that grow with a host's workloads (``cuts``): the model keeps them
flat, their sections are buckets, and binding one workload changes a few small sections.

Names: the field (``networks``), ``firewall.<field>``, ``firewall.remote_groups`` (the group
ids, so that a group without members exists), ``firewall.remote_groups/<group id>/<bucket
key>``, ``metadata.listeners``, ``metadata.ports/<bucket key>`` and ``metadata.instances/<bucket
key>`` (a metadata bucket's section is its tuple of items: the key is in the name), and
``ports/<key>``, ``workloads/<key>``, ``firewall.ports/<key>`` (``cuts.CUTS``). The content hash
(the ETag) is a hash over the sorted (name, digest) pairs of groups of sections (``Group``):
the plain ones, each cut field's, each metadata part's, each remote group's members.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple

import orjson

from v6fabric.hoststate import cuts
from v6fabric.hoststate.firewall import FirewallSpec, RemoteGroup
from v6fabric.hoststate.metadata import MetadataSpec
from v6fabric.hoststate.model import HostState
from v6fabric.hoststate.names import (  # the names of sections, here for their users
    BUCKET,
    BUCKETED,
    FIELDS,
    FIREWALL,
    GROUPS,
    METADATA,
    Bucketed,
    bucket_name,
    bucketed,
)
from v6fabric.hoststate.patch import Delta, apply  # a delta applied, here for its users

__all__ = [
    "BUCKET",
    "BUCKETED",
    "FIELDS",
    "FIREWALL",
    "GROUPS",
    "METADATA",
    "Bucketed",
    "Delta",
    "Sections",
    "apply",
    "bucket_name",
    "bucketed",
    "content_hash",
    "encoded",
    "split",
]

MEMO_BYTES = 32 << 20  # of encodings (the values they key take as much again): ~12 states at 100k
# An agent holds one state and checks each delta's result against its ETag: its own state's
# sections (3.3 MB at 100,000 members) and a little churn. Old states' sections kept up to the
# server's budget doubled an agent's memory (45 -> 102 MB with 150 workloads).
AGENT_MEMO_BYTES = 6 << 20


class Encoded(NamedTuple):
    raw: bytes
    digest: str


class _Memo:
    """Encodings by value, the oldest dropped past a byte budget: with members churning, every
    change leaves an old bucket behind, and a count bound would not bound the bytes.

    Looking up an unchanged value costs its hash, a fifth of encoding it (a bucket of 400
    members: 1.7 us against 9 us), whether or not it is the same object. First in, first out
    rather than least recently used: a lookup stays one hash, and a long-lived value that is
    dropped is merely encoded once more.
    """

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._size = 0
        self._items: OrderedDict[Any, Encoded] = OrderedDict()
        self._lock = threading.Lock()  # the server digests hosts in threadpool threads

    def limit(self, budget: int) -> None:
        """A new byte budget (an agent keeps one state: it needs far less than a server)."""
        with self._lock:
            self._budget = budget
            self._trim()

    def _trim(self) -> None:
        while self._size > self._budget and len(self._items) > 1:
            self._size -= len(self._items.popitem(last=False)[1].raw)

    def __call__(self, value: Any) -> Encoded:
        try:
            with self._lock:
                found = self._items.get(value)
        except TypeError:  # a list somewhere (a hand-made state): not kept, still encoded
            return _encode(value)
        if found is not None:
            return found
        found = _encode(value)
        with self._lock:
            if value not in self._items:
                self._items[value] = found
                self._size += len(found.raw)
                self._trim()
        return found


def _encode(value: Any) -> Encoded:
    raw = orjson.dumps(value)
    return Encoded(raw, hashlib.sha256(raw).hexdigest()[:32])


encoded = _Memo(MEMO_BYTES)


class Group(NamedTuple):
    """Sections cut from one object (``source``: a cut field's tuple, a metadata part's
    buckets, a remote group; None for the few plain sections) and the hash of their digests:
    a state made from another (a delta applied, the host compiled again) keeps a group whose
    source is the very same object, at no cost whatever its size."""

    source: Any
    values: dict[str, Any]
    digests: dict[str, str]
    digest: str


Parts = Callable[[Mapping[str, Any] | None], dict[str, Any]]  # a group's sections by name


def _sources(state: HostState) -> Iterator[tuple[str, Any, Parts]]:
    """``(group name, source, its sections given the previous ones)`` for every group."""
    holders = {HostState: state, FirewallSpec: state.firewall, MetadataSpec: state.metadata}

    def plain(_: Mapping[str, Any] | None) -> dict[str, Any]:
        out = {
            name: getattr(holders[owner], attr)
            for name, (owner, attr) in FIELDS.items()
            if name not in cuts.BY_NAME
        }
        out[GROUPS] = tuple(group.group_id for group in state.firewall.remote_groups)
        out[cuts.DNSMASQ] = cuts.frames(state.dnsmasq)
        return out

    yield "", None, plain
    for cut in cuts.CUTS:
        flat = getattr(holders[cut.owner], cut.attr)
        yield cut.name, flat, functools.partial(cut.parts, flat)
    if cuts.cut_hosts(state.dnsmasq):
        for spec in state.dnsmasq:
            cut = cuts.hosts_cut(spec.namespace)
            yield cut.name, spec.hosts, functools.partial(cut.parts, spec.hosts)
    for part in BUCKETED:
        held = getattr(state.metadata, part.attr)
        yield part.prefix, held, functools.partial(_metadata_parts, part, held)
    for group in state.firewall.remote_groups:
        yield BUCKET + group.group_id, group, functools.partial(_member_parts, group)


def _metadata_parts(part: Bucketed, held: tuple[Any, ...], _: Any) -> dict[str, Any]:
    names, items = part.names, attrgetter(part.items)
    return {names[bucket.key]: items(bucket) for bucket in held}


def _member_parts(group: RemoteGroup, _: Any) -> dict[str, Any]:
    return {bucket_name(group.group_id, bucket.key): bucket for bucket in group.buckets}


def split(state: HostState) -> dict[str, Any]:
    """Every section of ``state`` by name (the revision is none: it is not content)."""
    return {name: value for _, _, parts in _sources(state) for name, value in parts(None).items()}


def combined_hash(digests: Mapping[str, str]) -> str:
    """A hash of the lines ``<name> <digest>``, sorted (joined in C: 2,000 sections a state)."""
    text = "\n".join(map(" ".join, sorted(digests.items())))
    return hashlib.sha256((text + "\n" if text else "").encode()).hexdigest()[:32]


_NONE = object()


@dataclass(frozen=True, eq=False)
class Sections:
    """A state's sections in groups, and the content hash (the ETag): a hash over the groups'
    names and digests, each a hash over its sections' names and digests. Made once per
    compiled state; ``values`` and ``digests`` (every section by name) when asked for."""

    groups: dict[str, Group]
    content_hash: str

    @classmethod
    def of(cls, state: HostState, previous: Sections | None = None) -> Sections:
        """``previous``: the sections of a state this one was made from (the host's last
        compile, the state a delta was applied to). A group whose source is the very object
        of ``previous``'s, or equal to it, is ``previous``'s; in another, a section that is
        the very object of ``previous``'s keeps its digest. Otherwise a section costs a memo
        lookup, which hashes its value: a few ms for 2,000 workloads' metadata (each a
        dataclass hash), and past the memo's budget (an agent's is small) an encode."""
        known = previous.groups if previous is not None else {}
        groups = {}
        for name, source, parts in _sources(state):
            old = known.get(name)
            if old is not None and source is not None:
                if old.source is source:
                    groups[name] = old
                    continue
                if old.source == source:  # a compile's equal tuple: one compare, not a cut
                    groups[name] = old._replace(source=source)
                    continue
            values = parts(old.values if old is not None else None)
            if old is None:
                digests = {n: encoded(value).digest for n, value in values.items()}
            else:
                was, was_digests = old.values, old.digests
                digests = {
                    n: was_digests[n] if was.get(n, _NONE) is value else encoded(value).digest
                    for n, value in values.items()
                }
            groups[name] = Group(source, values, digests, combined_hash(digests))
        content = combined_hash({name: group.digest for name, group in groups.items()})
        return cls(groups, content)

    @functools.cached_property
    def values(self) -> dict[str, Any]:
        return {n: v for group in self.groups.values() for n, v in group.values.items()}

    @functools.cached_property
    def digests(self) -> dict[str, str]:
        return {n: d for group in self.groups.values() for n, d in group.digests.items()}

    def changes_since(self, old: Sections) -> tuple[dict[str, Any], list[str]]:
        """The sections whose value differs from ``old``'s (or are new), by name, and the
        names ``old`` only has; a group of equal digest is skipped whole."""
        changed: dict[str, Any] = {}
        removed: list[str] = []
        for name, group in self.groups.items():
            was = old.groups.get(name)
            if was is None:
                changed.update(group.values)
            elif was.digest != group.digest:
                was_digests = was.digests
                changed.update(
                    (n, group.values[n])
                    for n, d in group.digests.items()
                    if was_digests.get(n) != d
                )
                removed += [n for n in was_digests if n not in group.digests]
        for name, was in old.groups.items():
            if name not in self.groups:
                removed += was.digests
        return changed, removed


def content_hash(state: HostState) -> str:
    """A stable hash of what the host should have (the revision excluded)."""
    return Sections.of(state).content_hash
