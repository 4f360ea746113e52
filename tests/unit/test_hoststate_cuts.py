"""Ports, workloads and firewall ports cut into buckets on the wire (``hoststate/cuts.py``).

Binding one workload on a host with many sends, hashes and decodes one small bucket of each;
the model stays flat and sorted; the agent's rebuilt tuples keep every unchanged item's object,
and a field that did not change is the held state's very tuple.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit import test_compiler as t
from v6fabric.agent.client import _applied
from v6fabric.compiler import compile_host
from v6fabric.compiler.live import LiveInputs
from v6fabric.hoststate import buckets, codec, cuts, sections
from v6fabric.hoststate.buckets import bucket_key
from v6fabric.hoststate.firewall import FirewallPort, FirewallSpec, MemberBucket
from v6fabric.hoststate.model import (
    DhcpHost,
    DhcpRange,
    DnsmasqSpec,
    HostState,
    PortSpec,
    WorkloadInterface,
    WorkloadSpec,
)
from v6fabric.hoststate.sections import Sections

HOST = t.NET_HOST
NETS = [t.network(i + 1) for i in range(3)]
SUBS = [
    t.subnet(1, NETS[0], "2001:db8:1::/64", ra=t.SLAAC, addr=t.SLAAC),
    t.subnet(2, NETS[1], "2001:db8:2::/64", ra=t.STATEFUL, addr=t.STATEFUL),
    t.subnet(3, NETS[2], "2001:db8:3::/64", ra=t.STATELESS, addr=t.STATELESS),
]


def bind(live: LiveInputs, number: int) -> str:
    """A port on ``HOST`` and the workload it is the NIC of; the port's id."""
    i = number % 3
    wire = t.port(
        number + 100, NETS[i], (SUBS[i], f"2001:db8:{i + 1}::{number + 100:x}"), host=HOST
    )
    live.update("ports", {wire["id"]: wire})
    workload = {**t.workload(number, wire, host=HOST), "project_id": "p1"}
    live.update("workloads", {workload["id"]: workload})
    return str(wire["id"])


def busy_host(count: int) -> LiveInputs:
    live = LiveInputs()
    live.network_hosts = (HOST,)
    live.update("networks", {n["id"]: n for n in NETS})
    live.update("subnets", {s["id"]: s for s in SUBS})
    live.update("ports", {p["id"]: p for p in (t.dhcp_port(i + 1, n) for i, n in enumerate(NETS))})
    for number in range(count):
        bind(live, number)
    return live


def compiled(live: LiveInputs) -> HostState:
    return compile_host(live.snapshot_for(HOST), HOST)


def delta_of(old: HostState, new: HostState) -> bytes:
    return codec.encode_delta(Sections.of(old), Sections.of(new), new.revision)


def applied(old: HostState, new: HostState) -> HostState:
    return sections.apply(old, codec.decode_delta(delta_of(old, new)))


def test_a_bind_is_a_few_small_buckets_and_keeps_every_other_object() -> None:
    live = busy_host(150)
    old = compiled(live)
    port_id = bind(live, 150)
    workload_id = t.uid("w", 150)
    new = compiled(live)
    raw = delta_of(old, new)
    names = set(orjson.loads(raw)["sections"])
    key = bucket_key(port_id)
    assert {
        f"ports/{key}",
        f"firewall.ports/{key}",
        f"workloads/{bucket_key(workload_id)}",
    } <= names
    assert all("/" in name for name in names), "no section that grows with the host"
    assert len(raw) * 50 < len(codec.encode(new)), len(raw)
    held = codec.decode(codec.encode(old))  # the agent's own copy
    result = sections.apply(held, codec.decode_delta(raw))
    assert result == new and codec.encode(result) == codec.encode(new)
    assert codec.content_hash(result) == codec.content_hash(new)
    # every item that was there is the held state's object; fields unchanged are its tuples
    for before, after in ((held.ports, result.ports), (held.workloads, result.workloads),
                          (held.firewall.ports, result.firewall.ports)):  # fmt: skip
        kept = {id(item) for item in before}
        assert sum(id(item) not in kept for item in after) == 1 and len(after) == len(before) + 1
    assert result.networks is held.networks and result.dnsmasq is held.dnsmasq
    assert result.firewall.security_groups is held.firewall.security_groups


def test_the_agent_hashes_only_what_changed_and_agrees_with_the_server() -> None:
    live = busy_host(40)
    states = [compiled(live)]
    for number in range(40, 44):
        bind(live, number)
        states.append(dataclasses.replace(compiled(live), revision=number))
    held = (codec.decode(codec.encode(states[0])), codec.content_hash(states[0]))
    known = None
    for old, new in itertools.pairwise(states):
        got = _applied(held, delta_of(old, new), known)
        assert got is not None and got[0] == new
        assert got[1].digests == Sections.of(new).digests  # whatever the history
        held, known = (got[0], got[1].content_hash), got[1]
    # the server's sections given its previous ones are those of the state alone
    assert (
        Sections.of(states[-1], Sections.of(states[-2])).digests == Sections.of(states[-1]).digests
    )


def ports(*numbers: int) -> tuple[PortSpec, ...]:
    return tuple(
        PortSpec(f"p{n:03d}", "net", "workload", f"tap{n:03d}", "fa:16:3e:00:00:01", 1500)
        for n in numbers
    )


def workloads(*numbers: int) -> tuple[WorkloadSpec, ...]:
    return tuple(
        WorkloadSpec(
            f"w{n:03d}",
            f"vm{n}",
            f"v6w-w{n:03d}",
            (WorkloadInterface(f"p{n:03d}", "eth0", f"tap{n:03d}", "fa:16:3e:00:00:01", 1500),),
        )
        for n in numbers
    )


def state(numbers: list[int], revision: int = 1, **changes: Any) -> HostState:
    firewall = FirewallSpec(
        ports=tuple(FirewallPort(p.port_id, p.tap, "net", p.mac) for p in ports(*numbers))
    )
    made = HostState(
        "h1", revision, ports=ports(*numbers), workloads=workloads(*numbers), firewall=firewall
    )
    return dataclasses.replace(made, **changes)


@given(
    st.lists(st.integers(0, 600), max_size=40, unique=True),
    st.lists(st.integers(0, 600), max_size=40, unique=True),
)
def test_any_two_sets_of_items(before: list[int], after: list[int]) -> None:
    old, new = state(sorted(before)), state(sorted(after), 2)
    result = applied(old, new)
    assert result == new and codec.content_hash(result) == codec.content_hash(new)
    olds = {item.port_id: item for item in old.ports}
    assert all(olds.get(item.port_id, item) is item for item in result.ports)


def test_a_tuple_not_sorted_by_id_travels_whole_and_comes_back() -> None:
    """A hand-made state (the compiler sorts): its sections still give back exactly it."""
    cut = state([1, 5, 9])
    whole = state([1, 5, 9], 2, ports=ports(9, 1, 5), workloads=workloads(5, 5))  # a duplicate
    names = set(Sections.of(whole).values)
    assert {"ports", "workloads"} <= names and not any(n.startswith("ports/") for n in names)
    assert any(n.startswith("firewall.ports/") for n in names)  # normalised: sorted
    for old, new in ((cut, whole), (whole, cut), (whole, state([], 3)), (state([], 3), whole)):
        result = applied(old, new)
        assert result == new and result.ports == new.ports  # in its own order
        assert codec.content_hash(result) == codec.content_hash(new)
    assert codec.content_hash(whole) != codec.content_hash(
        state([1, 5, 9], 2, ports=ports(1, 9, 5))
    )


def test_equal_states_have_equal_etags_whatever_their_history() -> None:
    direct = state([1, 2, 3, 4])
    walked = applied(applied(state([7, 1]), state([1, 2, 9])), state([1, 2, 3, 4]))
    assert walked == direct and codec.content_hash(walked) == codec.content_hash(direct)
    assert codec.encode(walked) == codec.encode(direct)  # full bodies: the flat JSON form
    assert orjson.loads(codec.encode(direct))["ports"][0]["port_id"] == "p001"


def _document(old: HostState, new: HostState) -> dict[str, Any]:
    return dict(orjson.loads(delta_of(old, new)))


KEY_1 = bucket_key("p001")


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d["sections"].update(
            {f"ports/{(KEY_1 + 1) % 256}": d["sections"][f"ports/{KEY_1}"]}
        ),
        lambda d: d["sections"].update({f"ports/{KEY_1}": []}),  # an empty bucket
        lambda d: d["sections"].update({"ports/256": []}),  # no such bucket
        lambda d: d["sections"].update({"ports": d["sections"][f"ports/{KEY_1}"]}),  # both
        lambda d: d["removed"].append("workloads"),  # cut: it has no whole section
    ],
)
def test_a_delta_of_buckets_that_does_not_fit_raises_value_error(spoil: Any) -> None:
    old, new = state([2, 3]), state([1, 2, 3], 2)
    document = _document(old, new)
    spoil(document)
    with pytest.raises(ValueError):
        sections.apply(old, codec.decode_delta(orjson.dumps(document)))


def test_items_of_a_bucket_out_of_order_do_not_fit() -> None:
    twin = next(n for n in range(2, 5000) if bucket_key(f"p{n:03d}") == KEY_1)
    old, new = state([]), state([1, twin], 2)
    document = _document(old, new)
    document["sections"][f"ports/{KEY_1}"].reverse()
    with pytest.raises(ValueError):
        sections.apply(old, codec.decode_delta(orjson.dumps(document)))


def test_every_cut_is_a_flat_tuple_field() -> None:
    for cut in cuts.CUTS:
        assert cut.name in sections.FIELDS and sections.FIELDS[cut.name] == (cut.owner, cut.attr)
    assert cuts.parse("ports/3") == (cuts.BY_NAME["ports"], 3)
    assert cuts.parse("ports") == (cuts.BY_NAME["ports"], None)
    assert cuts.parse("dnsmasq.hosts/v6d-x/7") == (cuts.hosts_cut("v6d-x"), 7)
    assert cuts.parse("dnsmasq.hosts/v6d-x") == (cuts.hosts_cut("v6d-x"), None)
    for name in ("metadata.ports/3", "networks", "dnsmasq", f"{sections.BUCKET}g/3"):
        assert cuts.parse(name) is None
    with pytest.raises(ValueError):
        cuts.parse("ports/x")


@given(
    st.sets(st.integers(0, 40)),
    st.dictionaries(st.integers(0, 40), st.one_of(st.none(), st.integers(100, 200))),
)
def test_edited_buckets_are_the_naive_merge(keys: set[int], edits: dict[int, int | None]) -> None:
    held = tuple(MemberBucket(key, (f"2001:db8::{key:x}/128",)) for key in sorted(keys))
    edit = {
        k: None if v is None else MemberBucket(k, (f"2001:db8::{v:x}/128",))
        for k, v in edits.items()
    }
    merged = {b.key: b for b in held} | edit
    result = buckets.edited(held, edit)
    assert result == tuple(b for _k, b in sorted(merged.items()) if b is not None)
    kept = {b.key: b for b in held}
    assert all(kept[b.key] is b for b in result if b.key not in edit)


def test_a_group_unchanged_is_the_previous_group_and_no_section_of_it_is_sent() -> None:
    old = state([1, 2, 3])
    new = dataclasses.replace(old, revision=2, host="h2")  # only a plain section changes
    cut_old = Sections.of(old)
    cut_new = Sections.of(new, cut_old)
    assert all(cut_new.groups[name] is cut_old.groups[name] for name in cut_old.groups if name)
    changes, removed = cut_new.changes_since(cut_old)
    assert (list(changes), removed) == (["host"], [])
    again = Sections.of(state([1, 2, 3], 3), cut_old)  # equal tuples, other objects
    assert again.groups["ports"].values is cut_old.groups["ports"].values
    assert again.content_hash == cut_old.content_hash


def create(live: LiveInputs, number: int) -> str:
    """A port on the DHCPv6-stateful network, bound to no host yet: a line of its dnsmasq."""
    wire = t.port(number + 100, NETS[1], (SUBS[1], f"2001:db8:2::{number + 100:x}"), host="")
    live.update("ports", {wire["id"]: {**wire, "device_id": ""}})
    return str(wire["mac_address"])


def test_a_port_on_a_dhcp_network_is_one_bucket_of_its_dnsmasq_hosts() -> None:
    live = busy_host(300)
    old = compiled(live)
    mac = create(live, 301)
    new = compiled(live)
    raw = delta_of(old, new)
    (stateful,) = [spec for spec in new.dnsmasq if spec.network_id == NETS[1]["id"]]
    assert set(orjson.loads(raw)["sections"]) == {
        f"dnsmasq.hosts/{stateful.namespace}/{bucket_key(mac)}"
    }
    held = codec.decode(codec.encode(old))
    result = sections.apply(held, codec.decode_delta(raw))
    assert result == new and codec.content_hash(result) == codec.content_hash(new)
    assert result.ports is held.ports and result.workloads is held.workloads
    (before,) = [spec for spec in held.dnsmasq if spec.network_id == NETS[1]["id"]]
    (after,) = [spec for spec in result.dnsmasq if spec.network_id == NETS[1]["id"]]
    assert len(after.hosts) == len(before.hosts) + 1 and before.hosts
    assert sum(host not in before.hosts for host in after.hosts) == 1
    kept = {id(host) for host in before.hosts}
    assert sum(id(host) not in kept for host in after.hosts) == 1
    others = [spec for spec in result.dnsmasq if spec is not after]
    assert others and all(spec in held.dnsmasq for spec in others)
    assert all(any(spec is h for h in held.dnsmasq) for spec in others)


def dnsmasq(*specs: tuple[str, list[int]]) -> HostState:
    return HostState(
        "h1",
        1,
        dnsmasq=tuple(
            DnsmasqSpec(
                namespace,
                namespace,
                "ns-x",
                (DhcpRange("subnet-x", 6, "2001:db8::", 64),),
                tuple(DhcpHost(t.mac(n), (f"2001:db8::{n:x}",), f"host-{n}") for n in hosts),
            )
            for namespace, hosts in specs
        ),
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (dnsmasq(("v6d-a", [1, 2])), dnsmasq(("v6d-a", [1, 2]), ("v6d-b", [3]))),  # a network
        (dnsmasq(("v6d-a", [1, 2]), ("v6d-b", [3])), dnsmasq(("v6d-b", [3]))),  # and gone
        (dnsmasq(("v6d-a", [1, 2])), dnsmasq(("v6d-a", []))),  # its last port goes
        (dnsmasq(("v6d-a", [1, 2])), dnsmasq(("v6d-a", [2, 1]))),  # hosts out of order: whole
        (dnsmasq(("v6d-a", [2, 1])), dnsmasq(("v6d-a", [1, 2, 3]))),  # and back
        (dnsmasq(("v6d-b", [1]), ("v6d-a", [2])), dnsmasq(("v6d-a", [2, 5]))),  # specs whole
        (dnsmasq(("v6d-a", [2]), ("v6d-b", [4])), dnsmasq(("v6d-a", [2]), ("v6d-a", [3]))),
        (dnsmasq(("v6d-a", [2]), ("v6d-a", [3])), dnsmasq(("v6d-a", [2, 3]), ("v6d-b", [4]))),
    ],
)
def test_dnsmasq_specs_come_go_and_change_form(old: HostState, new: HostState) -> None:
    result = applied(old, dataclasses.replace(new, revision=2))
    assert result == dataclasses.replace(new, revision=2)
    assert codec.content_hash(result) == codec.content_hash(new)
    assert codec.encode(result) == codec.encode(dataclasses.replace(new, revision=2))


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d["sections"].update({"dnsmasq.hosts/v6d-z/1": []}),  # no such dnsmasq
        lambda d: d["sections"].update({"dnsmasq.hosts/v6d-z": []}),
        lambda d: d["sections"].update(  # a frame with hosts
            {
                "dnsmasq": [
                    {
                        **d["sections"]["dnsmasq"][0],
                        "hosts": [{"mac": "m", "addresses": [], "hostname": "h"}],
                    }
                ]
            }
        ),
        lambda d: d["removed"].append("dnsmasq.hosts/v6d-a"),  # in buckets: no whole section
    ],
)
def test_dnsmasq_sections_that_do_not_fit_raise_value_error(spoil: Any) -> None:
    old, new = dnsmasq(("v6d-a", [1])), dnsmasq(("v6d-a", [1, 2]))
    document = _document(old, new)
    document["sections"].setdefault("dnsmasq", orjson.loads(codec.encode(old))["dnsmasq"])
    document["sections"]["dnsmasq"][0]["hosts"] = []
    spoil(document)
    with pytest.raises(ValueError):
        sections.apply(old, codec.decode_delta(orjson.dumps(document)))
