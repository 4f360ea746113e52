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
(the ETag) is a hash over the sorted (name, digest) pairs.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, NamedTuple

import orjson

from v6fabric.hoststate import buckets, cuts
from v6fabric.hoststate.firewall import FirewallSpec, MemberBucket, RemoteGroup
from v6fabric.hoststate.model import (
    HostState,
    MetadataInstanceBucket,
    MetadataPortBucket,
    MetadataSpec,
)

FIREWALL = "firewall."
GROUPS = "firewall.remote_groups"
BUCKET = GROUPS + "/"
METADATA = "metadata."
# plain sections: name -> (the class that holds the field, the field)
FIELDS: dict[str, tuple[type, str]] = {
    f.name: (HostState, f.name)
    for f in fields(HostState)
    if f.name not in ("revision", "firewall", "metadata")
}
FIELDS.update(
    (FIREWALL + f.name, (FirewallSpec, f.name))
    for f in fields(FirewallSpec)
    if f.name != "remote_groups"
)
FIELDS[METADATA + "listeners"] = (MetadataSpec, "listeners")


@dataclass(frozen=True)
class Bucketed:
    """A bucketed part of ``MetadataSpec``: its sections are ``<prefix><key>``, each the tuple
    ``items`` of one bucket (``items`` is also the part's key in the flat JSON form)."""

    prefix: str
    attr: str  # the MetadataSpec field holding the buckets
    cls: Any  # the bucket class (its NAME and COUNT)
    items: str  # the bucket's field holding the items


BUCKETED = (
    Bucketed("metadata.ports/", "port_buckets", MetadataPortBucket, "ports"),
    Bucketed("metadata.instances/", "instance_buckets", MetadataInstanceBucket, "instances"),
)
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


def bucket_name(group_id: str, key: int) -> str:
    return f"{BUCKET}{group_id}/{key}"


def split(state: HostState, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every section of ``state`` by name (the revision is none: it is not content).
    ``previous``: an earlier state's sections, whose buckets of cut fields are reused if equal."""
    holders = {HostState: state, FirewallSpec: state.firewall, MetadataSpec: state.metadata}
    out = {}
    for name, (owner, attr) in FIELDS.items():
        value = getattr(holders[owner], attr)
        cut = cuts.BY_NAME.get(name)
        if cut is None:
            out[name] = value
        else:
            out.update(cut.parts(value, previous))
    groups = state.firewall.remote_groups
    out[GROUPS] = tuple(group.group_id for group in groups)
    for group in groups:
        for bucket in group.buckets:
            out[bucket_name(group.group_id, bucket.key)] = bucket
    for part in BUCKETED:
        for bucket in getattr(state.metadata, part.attr):
            out[f"{part.prefix}{bucket.key}"] = getattr(bucket, part.items)
    return out


def bucketed(name: str) -> Bucketed | None:
    """The bucketed metadata part a section name is of, None for any other name."""
    return next((part for part in BUCKETED if name.startswith(part.prefix)), None)


def combined_hash(digests: Mapping[str, str]) -> str:
    text = "".join(f"{name} {digests[name]}\n" for name in sorted(digests))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_NONE = object()


@dataclass(frozen=True, eq=False)
class Sections:
    """A state's sections, their digests and the content hash, made once per compiled state."""

    values: dict[str, Any]
    digests: dict[str, str]
    content_hash: str

    @classmethod
    def of(cls, state: HostState, previous: Sections | None = None) -> Sections:
        """``previous``: the sections of a state this one was made from (the host's last
        compile, the state a delta was applied to): a section that is the very object of
        ``previous``'s keeps its digest. Otherwise every section costs a memo lookup, which
        hashes its value: a few ms for 2,000 workloads' metadata (each a dataclass hash), and
        past the memo's budget (an agent's is small) an encode."""
        values = split(state, previous.values if previous is not None else None)
        if previous is None:
            digests = {name: encoded(value).digest for name, value in values.items()}
        else:
            known, known_digests = previous.values, previous.digests
            digests = {
                name: known_digests[name]
                if known.get(name, _NONE) is value
                else encoded(value).digest
                for name, value in values.items()
            }
        return cls(values, digests, combined_hash(digests))

    def changed_since(self, old: Sections) -> tuple[list[str], list[str]]:
        """Names whose value differs from ``old``'s (or is new), and names ``old`` only has."""
        changed = [n for n, d in self.digests.items() if old.digests.get(n) != d]
        return changed, [n for n in old.digests if n not in self.digests]


def content_hash(state: HostState) -> str:
    """A stable hash of what the host should have (the revision excluded)."""
    return Sections.of(state).content_hash


def encode(state: HostState) -> bytes:
    """``orjson.dumps(codec.to_dict(state))``, byte for byte, put together from the sections'
    memoized encodings in one join (nested joins copied a 3 MB state once per level)."""
    out: list[bytes] = []
    _object(out, state, {"revision": _plain, "firewall": _firewall, "metadata": _metadata})
    return b"".join(out)


Writer = Callable[[list[bytes], Any], None]


def _object(out: list[bytes], value: Any, special: Mapping[str, Writer]) -> None:
    """``value``'s fields in their declared order (as orjson writes a dataclass); sections
    from the memo, the fields named in ``special`` by their writer."""
    separator = b"{"
    for f in fields(value):
        out.append(separator + orjson.dumps(f.name) + b":")
        separator = b","
        item = getattr(value, f.name)
        if f.name in special:
            special[f.name](out, item)
        else:
            out.append(encoded(item).raw)
    out.append(b"}" if separator == b"," else b"{}")


def _firewall(out: list[bytes], spec: FirewallSpec) -> None:
    _object(out, spec, {"remote_groups": _groups})


def _groups(out: list[bytes], groups: tuple[RemoteGroup, ...]) -> None:
    _array(
        out, groups, lambda o, group: _object(o, group, {"group_id": _plain, "buckets": _buckets})
    )


def _buckets(out: list[bytes], buckets: tuple[MemberBucket, ...]) -> None:
    _array(out, buckets, lambda o, bucket: o.append(encoded(bucket).raw))


def _metadata(out: list[bytes], spec: MetadataSpec) -> None:
    """The flat form: each part's items in one array, joined from its buckets' encodings."""
    out.append(b'{"listeners":' + encoded(spec.listeners).raw)
    for part in BUCKETED:
        out.append(b',"' + part.items.encode() + b'":[')
        separator = b""
        for bucket in getattr(spec, part.attr):
            raw = encoded(getattr(bucket, part.items)).raw
            if len(raw) > 2:  # "[]": an empty bucket (never made by the compiler)
                out.append(separator + raw[1:-1])
                separator = b","
        out.append(b"]")
    out.append(b"}")


def _array(out: list[bytes], items: Iterable[Any], write: Writer) -> None:
    out.append(b"[")
    for i, item in enumerate(items):
        if i:
            out.append(b",")
        write(out, item)
    out.append(b"]")


def _plain(out: list[bytes], value: Any) -> None:
    out.append(orjson.dumps(value))


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
        if name in FIELDS and FIELDS[name][0] is HostState
    }
    top.update(_cut_fields(previous, delta, edits))
    names = [*delta.changed, *delta.removed]
    firewall, metadata = previous.firewall, previous.metadata
    if any(_holder(name) is FirewallSpec for name in names):
        firewall = _apply_firewall(firewall, delta, edits)
    if any(_holder(name) is MetadataSpec for name in names):
        metadata = _apply_metadata(metadata, delta)
    return replace(previous, revision=delta.revision, firewall=firewall, metadata=metadata, **top)


def _removable(name: str) -> bool:
    """Buckets come and go; so does a cut field's whole section (when it starts to be cut)."""
    return (
        name.startswith(BUCKET)
        or bucketed(name) is not None
        or name in cuts.BY_NAME
        or cuts.cut_of(name) is not None
    )


def _cut_fields(
    holder: Any, delta: Delta, edits: Mapping[cuts.Cut, Mapping[int, Any]]
) -> dict[str, Any]:
    """The new tuples of ``holder``'s cut fields that ``delta`` changes, rebuilt from the old
    ones and the changed buckets (a field sent whole is among the plain sections)."""
    out = {}
    for cut, edit in edits.items():
        if cut.owner is not type(holder):
            continue
        old = getattr(holder, cut.attr)
        if cut.name in delta.changed:  # sent whole: any bucket it had is removed
            if any(bucket is not None for bucket in edit.values()):
                raise ValueError(f"{cut.name!r} is sent both whole and in buckets")
        elif cut.name in delta.removed and cut.split(old) is not None:
            raise ValueError(f"{cut.name!r} is in buckets: its whole section is none")
        else:
            out[cut.attr] = cut.rebuilt(old, edit)
    return out


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
    cut = cuts.cut_of(name)
    if cut is not None:
        return cut[0].owner
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
