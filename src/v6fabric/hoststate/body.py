"""A whole ``HostState``'s wire form (the full body), put together from section encodings.

``orjson.dumps(codec.to_dict(state))``, byte for byte: each section's encoding comes from the
sections' memo (``sections.encoded``), where the state's digests put it, and the parts are
joined once (nested joins copied a 3 MB state once per level). A cut field (``cuts``) is
encoded whole, in its own (id) order, without the memo: its buckets' order is another, and a
lookup (a hash and a compare of every item) costs more than the encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from typing import Any

import orjson

from v6fabric.hoststate import cuts
from v6fabric.hoststate.firewall import FirewallSpec, MemberBucket, RemoteGroup
from v6fabric.hoststate.metadata import MetadataSpec
from v6fabric.hoststate.model import HostState
from v6fabric.hoststate.sections import BUCKETED, encoded


def encode(state: HostState) -> bytes:
    out: list[bytes] = []
    special = {"revision": _plain, "firewall": _firewall, "metadata": _metadata}
    _object(out, state, special | _CUT[HostState])
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
    _object(out, spec, {"remote_groups": _groups} | _CUT[FirewallSpec])


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


_CUT: dict[type, dict[str, Writer]] = {
    owner: {cut.attr: _plain for cut in cuts.CUTS if cut.owner is owner}
    for owner in (HostState, FirewallSpec)
}
_CUT[HostState][cuts.DNSMASQ] = _plain  # its sections are frames and buckets of hosts
