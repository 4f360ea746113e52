"""HostState sections: digests, the content hash made of them, deltas and their application."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_compiler_properties import PROPERTY, hosts_of, snapshots
from v6fabric.compiler import compile_host
from v6fabric.hoststate import codec, sections
from v6fabric.hoststate.buckets import bucket_key
from v6fabric.hoststate.firewall import (
    AllowedAddress,
    FirewallNetwork,
    FirewallPort,
    FirewallSpec,
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
    member_bucket,
)
from v6fabric.hoststate.model import HostState, NetworkSpec, PortSpec
from v6fabric.hoststate.sections import Sections, bucket_name

NET, WEB, DB, EMPTY = "n" * 36, "a" * 36, "b" * 36, "c" * 36


def members(count: int, start: int = 0) -> list[str]:
    return [f"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::1/128" for i in range(start, start + count)]


def host_state(
    web: list[str], *, revision: int = 1, groups: tuple[str, ...] = (WEB, DB, EMPTY), ports: int = 3
) -> HostState:
    port_ids = [f"p{i:035d}" for i in range(ports)]
    rules = tuple(SecurityGroupRule("ingress", "IPv6", 6, 80, 80, remote_group=g) for g in groups)
    remote = {
        WEB: RemoteGroup.of(WEB, ipv6=web),
        DB: RemoteGroup.of(DB, ipv6=["2001:db8:d::1/128"], ipv4=["10.0.0.7/32", "10.0.0.8/32"]),
        EMPTY: RemoteGroup(EMPTY),
    }
    firewall = FirewallSpec(
        networks=(FirewallNetwork(NET, "v6b-nnnnnnnnnnn", 1, ("fe80::1",)),),
        ports=tuple(
            FirewallPort(
                p,
                f"tap{p[:11]}",
                NET,
                "fa:16:3e:00:00:01",
                allowed=(AllowedAddress(f"2001:db8::{i + 1:x}/128", "fa:16:3e:00:00:01"),),
                security_groups=(WEB,),
            )
            for i, p in enumerate(port_ids)
        ),
        security_groups=(SecurityGroup(WEB, rules=rules),),
        remote_groups=tuple(remote[g] for g in groups),
    )
    return HostState(
        "h1",
        revision,
        networks=(NetworkSpec(NET, "v6b-nnnnnnnnnnn", 1500),),
        ports=tuple(
            PortSpec(p, NET, "workload", f"tap{p[:11]}", "fa:16:3e:00:00:01", 1500)
            for p in port_ids
        ),
        firewall=firewall,
    )


def delta_of(old: HostState, new: HostState) -> bytes:
    return codec.encode_delta(Sections.of(old), Sections.of(new), new.revision)


def applied(old: HostState, new: HostState) -> HostState:
    return sections.apply(old, codec.decode_delta(delta_of(old, new)))


def test_the_body_is_orjson_byte_for_byte_and_decodes_back() -> None:
    state = host_state(members(500))
    body, etag = codec.encode_and_hash(state)
    assert body == orjson.dumps(codec.to_dict(state)) == codec.encode(state)
    assert codec.decode(body) == state
    assert etag == codec.content_hash(state) == Sections.of(state).content_hash


def test_the_content_hash_follows_content_not_the_revision() -> None:
    state = host_state(members(500))
    assert codec.content_hash(dataclasses.replace(state, revision=99)) == codec.content_hash(state)
    assert codec.content_hash(host_state(members(501))) != codec.content_hash(state)
    emptied = host_state(members(500), groups=(WEB, DB))  # one empty group fewer
    assert codec.content_hash(emptied) != codec.content_hash(state)


def test_every_part_of_a_state_is_in_some_section() -> None:
    assert {f.name for f in dataclasses.fields(sections.RemoteGroup)} == {"group_id", "buckets"}
    state = host_state(members(50))
    names = set(sections.split(state))
    assert {"host", "networks", "version", "firewall.networks", sections.GROUPS} <= names
    port_id = state.ports[0].port_id  # per-item tuples are cut into buckets (``cuts``)
    assert {f"ports/{bucket_key(port_id)}", f"firewall.ports/{bucket_key(port_id)}"} <= names
    assert not {"ports", "firewall.ports", "workloads"} & names
    assert "revision" not in names and "firewall" not in names
    assert bucket_name(WEB, member_bucket(members(1)[0])) in names


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (host_state(members(300)), host_state(members(301), revision=2)),  # a member joins
        (host_state(members(300)), host_state(members(299), revision=2)),  # one leaves
        (host_state(members(300)), host_state(members(300, 1), revision=2)),  # both
        (host_state(members(300)), host_state([], revision=2)),  # the group empties
        (host_state([]), host_state(members(300), revision=2)),  # and fills
        (host_state(members(9)), host_state(members(9), revision=2, groups=(DB,))),  # groups go
        (host_state(members(9), groups=(DB,)), host_state(members(9), revision=2)),  # and come
        (host_state(members(9)), host_state(members(9), revision=2, ports=5)),  # ports change
        (host_state(members(9)), host_state(members(9), revision=2)),  # only the revision
    ],
)
def test_a_delta_applied_gives_the_new_state(old: HostState, new: HostState) -> None:
    result = applied(old, new)
    assert result == new and result.revision == 2
    assert codec.content_hash(result) == codec.content_hash(new)
    assert codec.encode(result) == orjson.dumps(codec.to_dict(new))


@PROPERTY
@given(snapshots(), snapshots())
def test_deltas_between_any_compiled_states(first, second):
    for host in hosts_of(first):
        old, new = compile_host(first, host), compile_host(second, host)
        result = applied(old, new)
        assert result == new and codec.content_hash(result) == codec.content_hash(new)


def test_unchanged_sections_are_the_previous_objects() -> None:
    old = host_state(members(2000))
    joined = members(1, 2000)[0]
    new = applied(old, host_state(members(2001), revision=2))
    for name in ("networks", "ports", "namespaces", "workloads"):
        assert getattr(new, name) is getattr(old, name)
    for name in ("networks", "ports", "security_groups"):
        assert getattr(new.firewall, name) is getattr(old.firewall, name)
    web_old, db_old, empty_old = old.firewall.remote_groups
    web_new, db_new, empty_new = new.firewall.remote_groups
    assert db_new is db_old and empty_new is empty_old
    before = {b.key: b for b in web_old.buckets}
    assert [b.key for b in web_new.buckets if before.get(b.key) is not b] == [member_bucket(joined)]
    # a change of ports keeps the groups; a change outside the firewall keeps all of it
    more_ports = applied(old, host_state(members(2000), revision=3, ports=4))
    assert more_ports.firewall.remote_groups[0] is web_old
    assert more_ports.firewall.security_groups is old.firewall.security_groups
    renamed = dataclasses.replace(old, host="h2", revision=3)
    assert applied(old, renamed).firewall is old.firewall


def test_one_member_of_100000_is_a_delta_of_one_bucket() -> None:
    everyone = members(100_000)
    old, new = host_state(everyone[1:]), host_state(everyone, revision=2)
    changes, removed = Sections.of(new).changes_since(Sections.of(old))
    changed = list(changes)
    assert changed == [bucket_name(WEB, member_bucket(everyone[0]))] and removed == []
    raw = delta_of(old, new)
    assert len(raw) < 30_000 < len(codec.encode(new)) / 50
    assert applied(old, new) == new


@pytest.mark.parametrize(
    "change",
    [
        {"version": 99},
        {"sections": {"nonsense": []}},
        {"sections": {"firewall.remote_groups/" + "z" * 36 + "/3": {"key": 3}}},  # no such group
        {"sections": {f"firewall.remote_groups/{WEB}/3": {"key": 4}}},  # the key disagrees
        {"sections": {"ports": 7}},
        {"removed": ["ports"]},
        {"removed": [f"firewall.remote_groups/{WEB}/x"]},
        {"revision": None},
    ],
)
def test_a_delta_that_does_not_fit_raises_value_error(change: dict) -> None:
    old = host_state(members(10))
    document = orjson.loads(delta_of(old, host_state(members(11), revision=2))) | change
    with pytest.raises(ValueError):
        sections.apply(old, codec.decode_delta(orjson.dumps(document)))


def test_not_json_raises_value_error() -> None:
    with pytest.raises(ValueError):
        codec.decode_delta(b"<html>")


def test_memo_keeps_encodings_within_its_budget() -> None:
    memo = sections._Memo(budget=100)
    first = memo(tuple(members(3)))
    assert memo(tuple(members(3))) is first  # equal values share one encoding
    for i in range(20):
        memo(tuple(members(3, i)))
    assert memo._size <= 100 or len(memo._items) == 1
    assert memo(["a", "list"]).raw == b'["a","list"]'  # unhashable: encoded, not kept


@given(st.lists(st.integers(0, 5000), max_size=60), st.lists(st.integers(0, 5000), max_size=60))
def test_any_two_memberships(before: list[int], after: list[int]) -> None:
    every = members(5001)
    old = host_state([every[i] for i in before])
    new = host_state([every[i] for i in after], revision=2)
    assert applied(old, new) == new


def test_a_smaller_memo_budget_drops_the_oldest_encodings_at_once() -> None:
    memo = sections._Memo(1 << 20)
    for i in range(100):
        memo(("value", i, "x" * 1000))
    before = memo._size
    memo.limit(10_000)
    assert memo._size <= 10_000 < before
    assert memo(("value", 99, "x" * 1000)).raw.startswith(b'["value",99')  # still answers
