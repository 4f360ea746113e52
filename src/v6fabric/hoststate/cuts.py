"""Flat per-item tuples of a state cut into keyed buckets on the wire: ``ports/<key>``.

A host's ports, workloads and firewall ports grow with its workloads (500 kB each at 2,000),
and binding one workload changes one item of each. Sent as whole sections, a bind cost the
server, the wire and the agent in proportion to the host (a 120 kB delta at 150 workloads).
Cut into ``BUCKETS`` buckets by a stable hash of the item's id (``buckets.bucket_key``), it
changes one bucket of each.

The model stays flat: consumers read ``state.ports``, sorted by id, as before. Only sections
know the buckets: ``Cut.parts`` cuts a tuple (memoized per tuple object, reusing the previous
sections' bucket objects when equal), and ``Cut.rebuilt`` makes the new tuple from the old one
and the changed buckets (kept items are not decoded, compared or validated again; unchanged
fields are not touched at all, so they stay the very same objects).

A tuple that is not strictly increasing by id (a hand-made state, never the compiler's) could
not be rebuilt from buckets in its own order: it travels whole, as the section named after the
field (``ports``), so that a state's sections always give back exactly that state.

Each dnsmasq's hosts (a line per port of its network) are cut the same way, by MAC, one cut per
network (``dnsmasq.hosts/<namespace>/<key>``); the ``dnsmasq`` section holds the specs without
their hosts (``frames``), so a port created on a DHCPv6 network sends one bucket of its hosts.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, insort
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from itertools import chain, islice
from operator import attrgetter
from typing import Any

from v6fabric.hoststate.buckets import BUCKETS, bucket_key
from v6fabric.hoststate.firewall import FirewallSpec
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.hoststate.model import DnsmasqSpec, HostState

Split = dict[int, tuple[Any, ...]] | None  # buckets by key, ascending; None: not sorted by id
KEYS_KEPT = 1 << 16  # ids whose bucket is remembered (as many as bucket_key's cache)
_KEYS: dict[str, int] = {}  # bucket by id: a plain dict is twice lru_cache's speed


class Cut:
    """One flat tuple field cut into buckets: sections ``<name>/<key>`` (each a tuple of the
    field's items), or ``<name>`` (the whole tuple) when it is not sorted by ``item_id``."""

    def __init__(
        self,
        name: str,
        owner: type,
        attr: str,
        item_id: Callable[[Any], str],
        *,
        splits: IdentityMemo | None = None,
    ) -> None:
        self.name, self.owner, self.attr, self.item_id = name, owner, attr, item_id
        self.count = BUCKETS
        self.prefix = name + "/"
        self._names: dict[int, str] = {}
        # the splits of the last few tuples: an agent needs only its newest (rebuilt, then cut)
        self._splits = IdentityMemo(4) if splits is None else splits

    def name_of(self, key: int) -> str:
        """The section name of a bucket, made once."""
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"{self.prefix}{key}"
        return name

    def __repr__(self) -> str:
        return f"Cut({self.name!r})"

    def parts(self, flat: tuple[Any, ...], previous: Mapping[str, Any] | None) -> dict[str, Any]:
        """``flat``'s sections by name. ``previous``: sections of an earlier state, whose
        bucket objects are reused when equal (so they keep their digests by identity)."""
        split = self.split(flat, previous)
        if split is None:
            return {self.name: flat}
        name_of = self.name_of
        return {name_of(key): bucket for key, bucket in split.items()}

    def split(self, flat: tuple[Any, ...], previous: Mapping[str, Any] | None = None) -> Split:
        return self._splits.get(flat, lambda: self._split(flat, previous))

    def _split(self, flat: tuple[Any, ...], previous: Mapping[str, Any] | None) -> Split:
        ids = list(map(self.item_id, flat))
        if not all(map(operator.lt, ids, islice(ids, 1, None))):
            return None
        found: list[list[Any]] = [[] for _ in range(self.count)]
        for item, key in zip(flat, self._keys_of(ids), strict=True):
            found[key].append(item)
        out: dict[int, tuple[Any, ...]] = {}
        for key, items in enumerate(found):
            if items:
                bucket = tuple(items)
                # the server's compiles make equal items anew: a compare, not a memo lookup
                # (a hash and that compare), keeps the digest of a bucket that did not change
                old = previous.get(self.name_of(key)) if previous is not None else None
                out[key] = old if old is not None and old == bucket else bucket
        return out

    def _keys_of(self, ids: list[str]) -> list[int]:
        known = _KEYS
        try:
            return list(map(known.__getitem__, ids))
        except KeyError:
            if len(known) > KEYS_KEPT:
                known.clear()
            found = [bucket_key(item_id, self.count) for item_id in ids]
            known.update(zip(ids, found, strict=True))
            return found

    def checked(self, key: int, items: Any) -> tuple[Any, ...]:
        """A bucket from a delta: its items are of this key, strictly increasing by id.
        Raises ValueError."""
        if not isinstance(items, tuple) or not items:
            raise ValueError(f"section {self.name_of(key)!r} is not a non-empty tuple")
        ids = list(map(self.item_id, items))
        if any(bucket_key(item_id, self.count) != key for item_id in ids) or not all(
            map(operator.lt, ids, islice(ids, 1, None))
        ):
            raise ValueError(f"section {self.name_of(key)!r} holds items of other buckets")
        return items

    def applied(
        self,
        flat: tuple[Any, ...],
        edits: Mapping[int, tuple[Any, ...] | None],
        changed: Mapping[str, Any],
        removed: Collection[str],
    ) -> tuple[Any, ...]:
        """The field's new tuple from a delta that names it: sent whole (``changed`` has its
        name; any bucket it had is removed), or its buckets ``edits``. Raises ValueError."""
        if self.name in changed:
            if any(bucket is not None for bucket in edits.values()):
                raise ValueError(f"{self.name!r} is sent both whole and in buckets")
            whole = changed[self.name]
            if not isinstance(whole, tuple):
                raise ValueError(f"{self.name!r} is not a tuple")
            return whole
        if self.name in removed and self.split(flat) is not None:
            raise ValueError(f"{self.name!r} is in buckets: its whole section is none")
        return self.rebuilt(flat, edits)

    def rebuilt(
        self, flat: tuple[Any, ...], edits: Mapping[int, tuple[Any, ...] | None]
    ) -> tuple[Any, ...]:
        """``flat`` with the buckets of ``edits`` replaced (None: removed), in id order, and its
        split remembered (its sections then cost nothing more). Every item that is equal to
        one of ``flat`` is ``flat``'s very object (identity memos of items stay effective), and
        only the edited buckets' items are looked at: the rest is copied, in C. ``flat`` in
        its whole form (not sorted by id) keeps nothing: a delta from it carries every bucket.
        Raises ValueError if ``flat`` lacks an item its split has (never, by construction)."""
        old, item_id = self.split(flat) or {}, self.item_id
        split, drops, adds = dict(old), [], []
        for key, items in edits.items():
            was = {item_id(item): item for item in old.get(key, ())}
            kept = []
            for item in items or ():
                same = was.pop(item_id(item), None)
                if same is not None and same == item:
                    item = same
                else:
                    adds.append(item)
                    if same is not None:
                        drops.append(item_id(same))
                kept.append(item)
            drops += was  # the ids of the items gone
            if kept:
                bucket = tuple(kept)
                split[key] = old[key] if old.get(key) == bucket else bucket
            else:
                split.pop(key, None)
        if not old:
            new = tuple(sorted(chain.from_iterable(split.values()), key=item_id))
        else:
            out = list(flat)
            for gone in drops:
                at = bisect_left(out, gone, key=item_id)
                if at == len(out) or item_id(out[at]) != gone:
                    raise ValueError(f"{self.name}: {gone!r} is not where its split says")
                del out[at]
            for item in adds:
                insort(out, item, key=item_id)
            new = tuple(out)
        self._splits.get(new, lambda: dict(sorted(split.items())))
        return new


CUTS = (
    Cut("ports", HostState, "ports", attrgetter("port_id")),
    Cut("workloads", HostState, "workloads", attrgetter("workload_id")),
    Cut("firewall.ports", FirewallSpec, "ports", attrgetter("port_id")),
    Cut("fdb", HostState, "fdb", attrgetter("entry_id")),
)
BY_NAME = {cut.name: cut for cut in CUTS}

# dnsmasq: a network's hosts (a line per port: 70 kB for 670 ports) in buckets by MAC, the
# specs without their hosts ("frames") in the plain section ``dnsmasq``
DNSMASQ = "dnsmasq"
HOSTS = "dnsmasq.hosts/"
_HOST_SPLITS = IdentityMemo(64)  # shared by every network's hosts
_HOST_CUTS: dict[str, Cut] = {}
_FRAMES, _FRAME = IdentityMemo(4), IdentityMemo(256)  # each holds its specs


def hosts_cut(namespace: str) -> Cut:
    """The cut of the hosts of the dnsmasq of ``namespace``: ``dnsmasq.hosts/<ns>/<key>``."""
    cut = _HOST_CUTS.get(namespace)
    if cut is None:
        if len(_HOST_CUTS) > 1 << 12:
            _HOST_CUTS.clear()
        cut = Cut(HOSTS + namespace, DnsmasqSpec, "hosts", attrgetter("mac"), splits=_HOST_SPLITS)
        _HOST_CUTS[namespace] = cut
    return cut


def cut_hosts(specs: tuple[DnsmasqSpec, ...]) -> bool:
    """Whether the specs' hosts travel in buckets: unless their namespaces are not strictly
    increasing (a hand-made state: the compiler sorts them, one per network), where the
    plain section holds the specs whole."""
    names = [spec.namespace for spec in specs]
    return all(map(operator.lt, names, islice(names, 1, None)))


def frames(specs: tuple[DnsmasqSpec, ...]) -> tuple[DnsmasqSpec, ...]:
    """The ``dnsmasq`` section: the specs without hosts (each the same object while its spec
    is), or the specs whole if their hosts are not cut."""
    return _FRAMES.get(specs, lambda: tuple(map(frame, specs)) if cut_hosts(specs) else specs)


def frame(spec: DnsmasqSpec) -> DnsmasqSpec:
    return _FRAME.get(spec, lambda: replace(spec, hosts=()))


def parse(name: str) -> tuple[Cut, int | None] | None:
    """The cut a section's name is of and its bucket key (None: the whole field), None for a
    name of no cut. Raises ValueError for a bucket name whose key is not a bucket number."""
    if name in BY_NAME:
        return BY_NAME[name], None
    if name.startswith(HOSTS):
        namespace, slash, key = name.removeprefix(HOSTS).partition("/")
        cut = hosts_cut(namespace) if namespace else None
    else:
        field, slash, key = name.partition("/")
        cut = BY_NAME.get(field) if slash else None
    if cut is None or not slash:
        return (cut, None) if cut is not None else None
    if not key.isdigit() or int(key) >= cut.count:
        raise ValueError(f"not a bucket section: {name!r}")
    return cut, int(key)


def edits_of(
    changed: Mapping[str, Any], removed: Iterable[str]
) -> dict[Cut, dict[int, tuple[Any, ...] | None]]:
    """The buckets a delta replaces (None: removes), per cut; a cut whose whole section is
    sent or removed has an entry, even without any bucket."""
    out: dict[Cut, dict[int, tuple[Any, ...] | None]] = {}
    for name in removed:
        found = parse(name)
        if found is not None:
            edit = out.setdefault(found[0], {})
            if found[1] is not None:
                edit[found[1]] = None
    for name, items in changed.items():
        found = parse(name)
        if found is not None:
            cut, key = found
            edit = out.setdefault(cut, {})
            if key is not None:
                edit[key] = cut.checked(key, items)
    return out
