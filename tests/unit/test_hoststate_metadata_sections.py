"""The metadata proxy's config in sections: ``metadata.listeners``, ``metadata.ports/<key>`` and
``metadata.instances/<key>``. One workload changing sends, hashes and decodes one bucket; a
delta applies to the state a full fetch gives; unchanged buckets stay the same objects."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from tests.unit.test_compiler_metadata import W1, WORKLOADS, world
from v6fabric.agent.client import _applied
from v6fabric.compiler import compile_host
from v6fabric.hoststate import codec, sections
from v6fabric.hoststate.buckets import bucket_key
from v6fabric.hoststate.metadata import (
    MetadataInstance,
    MetadataInstanceBucket,
    MetadataListener,
    MetadataPort,
    MetadataSpec,
)
from v6fabric.hoststate.model import HostState
from v6fabric.hoststate.sections import Sections
from v6fabric.metadata.config import parse_config, to_json

NET_HOST = "net1"


def spec(count: int, user_data: str = "#cloud-config\n") -> MetadataSpec:
    ports = [
        MetadataPort(f"p{i}", "net", f"fa:16:3e:00:00:{i % 256:02x}", ("fe80::1",), f"w{i}", "t")
        for i in range(count)
    ]
    instances = [
        MetadataInstance(f"w{i}", "t", f"vm{i}", f"vm{i}", user_data=user_data * (1 + i % 3))
        for i in range(count)
    ]
    return MetadataSpec.of([MetadataListener("v6d-net", "ns-x", "net")], ports, instances)


def state(metadata: MetadataSpec, revision: int = 1) -> HostState:
    return HostState("h1", revision, metadata=metadata)


def delta_of(old: HostState, new: HostState) -> bytes:
    return codec.encode_delta(Sections.of(old), Sections.of(new), new.revision)


def test_the_json_form_is_flat_and_every_form_round_trips() -> None:
    metadata = spec(40)
    data = codec.to_dict(metadata)
    assert set(data) == {"listeners", "ports", "instances"}
    assert sorted(item["instance_id"] for item in data["instances"]) == sorted(
        f"w{i}" for i in range(40)
    )
    assert codec.build(MetadataSpec, data) == metadata
    assert parse_config(to_json(metadata)).spec == metadata  # the proxy's config file
    whole = state(metadata)
    assert codec.encode(whole) == orjson.dumps(codec.to_dict(whole))
    assert codec.decode(codec.encode(whole)) == whole
    # consumers read flat items, sorted by id, as before the buckets
    assert [p.port_id for p in metadata.ports] == sorted(f"p{i}" for i in range(40))
    assert [i.instance_id for i in metadata.instances] == sorted(f"w{i}" for i in range(40))


def test_section_names() -> None:
    names = set(Sections.of(state(spec(3))).values)
    keys = {bucket_key(f"w{i}", MetadataInstanceBucket.COUNT) for i in range(3)}
    assert "metadata" not in names and "metadata.listeners" in names
    assert {n for n in names if n.startswith("metadata.instances/")} == {
        f"metadata.instances/{key}" for key in keys
    }
    assert sum(n.startswith("metadata.ports/") for n in names) == 3


def test_one_instance_changing_is_one_bucket_and_applies_to_the_full_state() -> None:
    old = state(spec(300))
    changed = dataclasses.replace(old.metadata.instances[7], user_data="#!/bin/sh\necho new\n")
    new = state(old.metadata.replaced(instances=(*old.metadata.instances[:7], changed,
                                                 *old.metadata.instances[8:])), 2)  # fmt: skip
    document = orjson.loads(delta_of(old, new))
    key = bucket_key(changed.instance_id, MetadataInstanceBucket.COUNT)
    assert list(document["sections"]) == [f"metadata.instances/{key}"]
    result = sections.apply(old, codec.decode_delta(delta_of(old, new)))
    assert result == codec.decode(codec.encode(new)) == new
    assert codec.encode(result) == codec.encode(new)
    assert codec.content_hash(result) == document["etag"]
    # every other bucket is the held state's very object
    kept = [b for b in result.metadata.instance_buckets if b.key != key]
    before = {b.key: b for b in old.metadata.instance_buckets}
    assert kept and all(before[b.key] is b for b in kept)
    assert result.metadata.port_buckets is old.metadata.port_buckets


def test_buckets_come_and_go() -> None:
    old, new = state(spec(5)), state(spec(3), 2)  # w3, w4 (and p3, p4) leave
    _changed, removed = Sections.of(new).changes_since(Sections.of(old))
    assert removed and all(
        n.startswith(("metadata.ports/", "metadata.instances/")) for n in removed
    )
    assert sections.apply(old, codec.decode_delta(delta_of(old, new))) == new
    assert sections.apply(new, codec.decode_delta(delta_of(new, old))) == old
    assert sections.apply(old, codec.decode_delta(delta_of(old, state(MetadataSpec(), 3)))) == (
        state(MetadataSpec(), 3)
    )


def test_an_item_in_the_wrong_bucket_does_not_apply() -> None:
    old, new = state(spec(3)), state(spec(4), 2)
    document = orjson.loads(delta_of(old, new))
    name = next(n for n in document["sections"] if n.startswith("metadata.instances/"))
    key = int(name.rpartition("/")[2])
    document["sections"][f"metadata.instances/{(key + 1) % 1024}"] = document["sections"].pop(name)
    held = (old, Sections.of(old).content_hash)
    assert _applied(held, orjson.dumps(document)) is None


def test_the_agent_hashes_only_what_changed_given_the_held_sections() -> None:
    old, new = state(spec(50)), state(spec(51), 2)
    held = (codec.decode(codec.encode(old)), Sections.of(old).content_hash)
    first = _applied(held, delta_of(old, new))
    assert first is not None and first[0] == new
    newer = state(spec(52), 3)
    second = _applied((first[0], first[1].content_hash), delta_of(new, newer), first[1])
    assert second is not None and second[0] == newer
    assert second[1].digests == Sections.of(newer).digests
    assert second[1].content_hash == Sections.of(newer).content_hash


def test_sections_given_the_previous_ones_are_the_same() -> None:
    old, new = state(spec(30)), state(spec(31), 2)
    assert Sections.of(new, Sections.of(old)).digests == Sections.of(new).digests


def _compiled(**changes: Any) -> HostState:
    return compile_host(world(**changes), NET_HOST)


def test_a_workloads_user_data_changing_sends_its_instance_bucket_only() -> None:
    old = _compiled()
    workloads = [dict(w, user_data="#cloud-config\nhostname: changed\n") if w["id"] == W1
                 else w for w in WORKLOADS]  # fmt: skip
    new = dataclasses.replace(_compiled(workloads=workloads), revision=2)
    document = orjson.loads(delta_of(old, new))
    assert list(document["sections"]) == [
        f"metadata.instances/{bucket_key(W1, MetadataInstanceBucket.COUNT)}"
    ]
    result = sections.apply(old, codec.decode_delta(delta_of(old, new)))
    assert result == new and codec.encode(result) == codec.encode(new)
    # the compiler keeps unchanged buckets' objects across compiles, changed or not
    assert new.metadata.port_buckets == old.metadata.port_buckets
    assert all(
        a is b for a, b in zip(new.metadata.port_buckets, old.metadata.port_buckets, strict=True)
    )
    changed = bucket_key(W1, MetadataInstanceBucket.COUNT)
    before = {b.key: b for b in old.metadata.instance_buckets}
    assert all(b is before[b.key] for b in new.metadata.instance_buckets if b.key != changed)
    (remade,) = [b for b in new.metadata.instance_buckets if b.key == changed]
    assert remade != before[changed]
