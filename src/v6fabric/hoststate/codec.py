"""JSON codec and content hash of ``HostState``: the wire form between server and agent.

The hash covers everything but the revision, so a store write that changes nothing on a host
does not wake that host's agent (the ETag is this hash). The hash is made of the digests of
the state's sections (``sections``). A delta carries the sections that changed since a state
the agent holds: per change, the only part of a 3 MB state that is encoded, sent and decoded.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from typing import Any

import orjson

from v6fabric.hoststate import body, cuts, sections
from v6fabric.hoststate.firewall import FirewallSpec, MemberBucket
from v6fabric.hoststate.metadata import MetadataSpec
from v6fabric.hoststate.model import HOSTSTATE_VERSION, HostState
from v6fabric.hoststate.sections import Delta, Sections

# v2: metadata in buckets; v3: ports, workloads, firewall ports and dnsmasq hosts in buckets
# (``cuts``).
# Clients asking for an earlier kind (older agents, whose decoders know none of these
# sections) get whole states, whose form has not changed.
DELTA_MEDIA_TYPE = "application/vnd.v6fabric.hoststate-delta.v3+json"


@functools.cache
def _field_names(tp: type) -> tuple[str, ...] | None:
    if not dataclasses.is_dataclass(tp):
        return None
    return tuple(f.name for f in dataclasses.fields(tp))


def to_dict(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [to_dict(v) for v in value]
    if isinstance(value, MetadataSpec):
        return _flat_metadata(value)
    names = _field_names(type(value))
    if names is not None:
        return {name: to_dict(getattr(value, name)) for name in names}
    return value


def _flat_metadata(spec: MetadataSpec) -> dict[str, Any]:
    """A ``MetadataSpec``'s JSON form: flat lists, whatever buckets hold them in memory (the
    form older agents and the proxy's config file know), in bucket order as ``encode`` joins
    them from the buckets' encodings."""
    return {
        "listeners": to_dict(spec.listeners),
        **{
            part.items: [
                to_dict(item)
                for bucket in getattr(spec, part.attr)
                for item in getattr(bucket, part.items)
            ]
            for part in sections.BUCKETED
        },
    }


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    """Resolved field types, once per class (resolving them was most of a decode)."""
    return typing.get_type_hints(tp)  # in the module that defines tp


@functools.cache
def _decoder(tp: Any) -> Callable[[Any], Any]:
    """A function that builds ``tp`` from its JSON form, made once per type: deciding what a
    type is per value was most of a decode (12 ms for a host with 150 workloads)."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        item = _decoder(typing.get_args(tp)[0])
        return lambda data: tuple(item(value) for value in data)
    if origin in (typing.Union, types.UnionType):
        inner = _decoder(next(a for a in typing.get_args(tp) if a is not type(None)))
        return lambda data: None if data is None else inner(data)
    if tp is MetadataSpec:
        listeners, ports, instances = (
            _decoder(_hints(tp)["listeners"]),
            *(_decoder(_hints(part.cls)[part.items]) for part in sections.BUCKETED),
        )
        return lambda data: MetadataSpec.of(
            listeners(data.get("listeners", ())),
            ports(data.get("ports", ())),
            instances(data.get("instances", ())),
        )
    if dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        fields = {f.name: _decoder(hints[f.name]) for f in dataclasses.fields(tp)}

        def build(data: dict[str, Any]) -> Any:
            return tp(**{k: fields[k](v) for k, v in data.items() if k in fields})

        return build
    return _same


def _same(data: Any) -> Any:
    return data


def build(tp: Any, data: Any) -> Any:
    """A value of ``tp`` (a contract dataclass, a tuple of them, ...) from its JSON form: for
    parts of a state that travel on their own (the metadata proxy's config)."""
    return _decoder(tp)(data)


def from_dict(data: dict[str, Any]) -> HostState:
    if data.get("version") != HOSTSTATE_VERSION:
        raise ValueError(f"unsupported HostState version {data.get('version')}")
    return build(HostState, data)


def encode(state: HostState) -> bytes:
    return body.encode(state)


def encode_and_hash(state: HostState) -> tuple[bytes, str]:
    """The wire form and ``content_hash`` (the server sends both), both put together from the
    sections' memoized encodings: for a state whose sections are known, a join and a hash."""
    return body.encode(state), sections.content_hash(state)


def decode(raw: bytes | str) -> HostState:
    return from_dict(orjson.loads(raw))


content_hash = sections.content_hash


def encode_delta(base: Sections, new: Sections, revision: int) -> bytes:
    """The delta document from ``base`` to ``new``: only changed sections are encoded (and
    those, memoized, were encoded when ``new`` was hashed)."""
    changed, removed = new.changes_since(base)
    head = orjson.dumps(
        {
            "version": HOSTSTATE_VERSION,
            "base": base.content_hash,
            "revision": revision,
            "etag": new.content_hash,
            "removed": removed,
        }
    )
    parts = (
        orjson.dumps(name) + b":" + sections.encoded(value).raw for name, value in changed.items()
    )
    return head[:-1] + b',"sections":{' + b",".join(parts) + b"}}"


def decode_delta(raw: bytes | str) -> Delta:
    """Raises ValueError for anything that is not a delta of this version."""
    try:
        data = orjson.loads(raw)
        if data.get("version") != HOSTSTATE_VERSION:
            raise ValueError(f"unsupported HostState delta version {data.get('version')}")
        changed = {name: _section_decoder(name)(value) for name, value in data["sections"].items()}
        return Delta(
            base=str(data["base"]),
            etag=str(data["etag"]),
            revision=int(data["revision"]),
            changed=changed,
            removed=tuple(data["removed"]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a HostState delta: {exc!r}") from exc


def _section_decoder(name: str) -> Callable[[Any], Any]:
    if name.startswith(sections.BUCKET):
        return _decoder(MemberBucket)
    part = sections.bucketed(name)
    if part is not None:
        return _decoder(_hints(part.cls)[part.items])
    if name == sections.GROUPS:
        return _decoder(tuple[str, ...])
    cut = cuts.parse(name)
    if cut is not None:
        return _decoder(_hints(cut[0].owner)[cut[0].attr])
    if name not in sections.FIELDS:
        raise ValueError(f"unknown section {name!r}")
    owner, attr = sections.FIELDS[name]
    return _decoder(_hints(owner)[attr])


def firewall_to_json(spec: FirewallSpec) -> str:
    return orjson.dumps(spec).decode()


def firewall_from_json(raw: str | bytes) -> FirewallSpec:
    return build(FirewallSpec, orjson.loads(raw))
