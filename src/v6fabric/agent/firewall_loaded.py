"""The firewall as the agent loaded it, named by digests (pure).

A plan compares the loaded firewall by digest alone (rendering a big ruleset just to compare it
costs more than the update), ``observe`` checks the marker against the files kept after a
restart, and ``managers`` writes those files: the digest, the files it is made of and the
ruleset live together here so that they change together (``FIREWALL_FORMAT``).
"""

from __future__ import annotations

import functools
from dataclasses import fields

import orjson

from v6fabric.drivers.files import digest
from v6fabric.hoststate import codec
from v6fabric.hoststate.firewall import FirewallSpec, MemberBucket, RemoteGroup
from v6fabric.hoststate.memo import IdentityMemo

# Bump when render.nftables changes what a spec renders to, or the files the agent keeps of it.
FIREWALL_FORMAT = "nft-9"  # 9: the uplink guard (nft_uplinks)
# (group id, bucket key) -> (the bucket, its digest), of the spec last digested
_BUCKET_DIGESTS: dict[tuple[str, int], tuple[MemberBucket, str]] = {}


# a plan asks on every round, and the agent holds the very same spec object until its state
# changes (hashing a frame to look it up costs more)
_FIREWALL_DIGESTS = IdentityMemo(4)


def firewall_digest(spec: FirewallSpec) -> str:
    """See ``_firewall_digest``; the same object twice is answered from memory."""
    return _FIREWALL_DIGESTS.get(spec, lambda: _firewall_digest(spec))


def _firewall_digest(spec: FirewallSpec) -> str:
    """What is loaded, named by the renderer's format (an upgraded agent whose renderer writes
    other rules reloads them) and the spec, as the digests of its parts: the spec without
    members, and each member bucket. A bucket that is the very object of the last spec digested
    keeps its digest (a delta keeps unchanged buckets' objects; an equal one costs a compare,
    a third of an encode), so a member joining a group of 100,000 encodes one bucket, not 3 MB."""
    known, lines = dict(_BUCKET_DIGESTS), [FIREWALL_FORMAT, _frame(spec)[1]]
    _BUCKET_DIGESTS.clear()
    for group in spec.remote_groups:
        lines.append(f"group {group.group_id}")
        for bucket in group.buckets:
            where = (group.group_id, bucket.key)
            seen = known.get(where)
            if seen is None or (seen[0] is not bucket and seen[0] != bucket):
                seen = (bucket, digest(bucket_json(group, bucket)))
            _BUCKET_DIGESTS[where] = (bucket, seen[1])
            lines.append(f"{bucket.key} {seen[1]}")
    return digest("\n".join(lines))


def frame_json(spec: FirewallSpec) -> str:
    """The spec without members (their groups listed, empty): the agent's ``spec.json``."""
    return _frame(spec)[0]


# the spec planned is the one loaded and written: one frame per spec object (encoding a frame
# costs less than hashing it for a lookup by value)
_FRAMES = IdentityMemo(4)


def _frame(spec: FirewallSpec) -> tuple[str, str]:
    """``frame_json`` and its digest."""

    def make() -> tuple[str, str]:
        text = frame_text(spec)
        return text, digest(text)

    return _FRAMES.get(spec, make)


def frame_text(spec: FirewallSpec) -> str:
    """``codec.firewall_to_json(without_members(spec))``, without making that spec: a spec's
    tuples are normalised already (by ``FirewallSpec``, or by the server for a decoded one),
    and sorting them again to make the frame cost more than encoding it (2 ms at 500 ports)."""
    parts = {f.name: getattr(spec, f.name) for f in fields(FirewallSpec)}
    parts["remote_groups"] = tuple(RemoteGroup(group.group_id) for group in spec.remote_groups)
    return orjson.dumps(parts).decode()


def bucket_json(group: RemoteGroup, bucket: MemberBucket) -> str:
    """One bucket's file: a spec of one group with that bucket, so that it says whose it is."""
    one = RemoteGroup(group.group_id, (bucket,))
    return codec.firewall_to_json(FirewallSpec(remote_groups=(one,)))


@functools.lru_cache(maxsize=4)  # planned up to MAX_ROUNDS times a pass for the same spec
def firewall_ruleset(spec: FirewallSpec) -> str:
    from v6fabric.render.nftables import render_ruleset

    return render_ruleset(spec)
