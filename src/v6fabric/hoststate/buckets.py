"""Keyed buckets: how a large, slowly changing part of a state is cut so that a change costs
in proportion to itself.

A remote group's members and the metadata proxy's ports and instances are each cut into
``BUCKETS`` slices by a stable hash of the item's text (an address, an id). One item changing
changes one bucket; every other bucket stays the very same object from the compiler through
the server's section memo to the agent, which compares identity first.

A bucket is any object with an integer ``key``; sequences of them are sorted by key, without
empty buckets.
"""

from __future__ import annotations

import functools
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from operator import attrgetter, itemgetter
from typing import Protocol, TypeVar

BUCKETS = 256


class Keyed(Protocol):
    @property
    def key(self) -> int: ...


B = TypeVar("B", bound=Keyed)


@functools.lru_cache(maxsize=1 << 16)  # a compile buckets mostly the same thousands of ids
def bucket_key(text: str, count: int = BUCKETS) -> int:
    """The bucket (of ``count``) of an item named by ``text``: stable across processes and
    Python versions."""
    return zlib.crc32(text.encode()) % count


def changed(old: Iterable[B], new: Iterable[B]) -> Iterator[tuple[int, B | None, B | None]]:
    """``(key, old bucket, new bucket)`` for each bucket that differs (None: absent), by key.

    Identity first: unchanged buckets are normally the very same objects, so a large part
    costs one ``is`` test a bucket; only other objects are compared by value.
    """
    before = {b.key: b for b in old}
    after = {b.key: b for b in new}
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was is not now and was != now:
            yield key, was, now


def edited(buckets: Iterable[B], edits: Mapping[int, B | None]) -> tuple[B, ...]:
    """``buckets`` (sorted by key) with those of ``edits`` replaced (None: removed), sorted by
    key; every bucket not edited is kept as the same object, and only the edited ones are
    looked at (a list copy and a bisection each: 1,024 instance buckets, a few changing)."""
    out = list(buckets)
    for key, bucket in sorted(edits.items(), key=itemgetter(0)):
        at = bisect_left(out, key, key=_key)
        if at < len(out) and out[at].key == key:
            if bucket is None:
                del out[at]
            else:
                out[at] = bucket
        elif bucket is not None:
            out.insert(at, bucket)
    return tuple(out)


_key = attrgetter("key")


T = TypeVar("T")


def grouped(
    items: Iterable[T], name_of: Callable[[T], str], count: int = BUCKETS
) -> dict[int, tuple[T, ...]]:
    """``items`` by ``bucket_key(name_of(item), count)``, keys ascending, each sorted by name."""
    found: dict[int, list[T]] = {}
    for item in items:
        found.setdefault(bucket_key(name_of(item), count), []).append(item)
    out = {}
    for key in sorted(found):
        members = found[key]
        members.sort(key=name_of)
        out[key] = tuple(members)
    return out
