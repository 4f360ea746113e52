"""The plan's memos (per state object, per spec object, per text) give exactly the plan made
afresh. Every plan of every pass is checked against one made on deep copies of its inputs
(which no memo by identity knows) and against itself asked again, over compiled states that
reach the agent as deltas (unchanged sections keep their objects, as in the agent). And the
plan's order is still its actions' order by phase, then ``repr``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_compiler import COMPUTE
from tests.unit.test_compiler_properties import PROPERTY, snapshots
from tests.unit.test_firewall_agent import CLIENT, CLIENTS, SERVER, WEB, guarded, world
from tests.unit.test_reconcile import FAST, HOST_NS, RUN_DIR, host_states
from v6fabric.agent import desired as want
from v6fabric.agent import firewall_loaded, loop, metadata_proxy, reconcile
from v6fabric.agent.actions import Action, LoadFirewall, SetLink, StartDaemon, WriteFile
from v6fabric.agent.host import fake_drivers
from v6fabric.agent.loop import Agent
from v6fabric.agent.observe import observe
from v6fabric.agent.reconcile import plan
from v6fabric.compiler import compile_host
from v6fabric.hoststate import codec, sections
from v6fabric.hoststate.firewall import FirewallSpec, without_members
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.hoststate.model import HostState
from v6fabric.hoststate.sections import Sections


def fresh_plan(desired: HostState, observed: Any, **kwargs: Any) -> list[Action]:
    """``reconcile.plan`` with every memo bypassed: on deep copies, identity memos answering
    nothing, caches by value emptied."""
    for cached in (want._radvd, want._dnsmasq, firewall_loaded.firewall_ruleset):
        cached.cache_clear()
    metadata_proxy._LAST.clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IdentityMemo, "get", lambda self, key, make: make())
        return reconcile.plan(copy.deepcopy(desired), copy.deepcopy(observed), **kwargs)


def checked_plan(desired: HostState, observed: Any, **kwargs: Any) -> list[Action]:
    """``reconcile.plan``, checked against itself afresh and asked again."""
    got = reconcile.plan(desired, observed, **kwargs)
    assert got == fresh_plan(desired, observed, **kwargs)
    assert reconcile.plan(desired, observed, **kwargs) == got
    return got


def deliver(held: HostState | None, new: HostState) -> HostState:
    """``new`` as the agent holds it: decoded, or the held state with the delta applied."""
    if held is None:
        return codec.decode(codec.encode(new))
    delta = codec.encode_delta(Sections.of(held), Sections.of(new), new.revision)
    return sections.apply(held, codec.decode_delta(delta))


def passes(states: list[HostState], host: str) -> None:
    """The agent on the fakes through ``states`` (as deltas), then the empty state, every
        plan checked (convergence is other tests' business), and the host as the agent saw it
    incrementally is what a full read sees."""
    fake = fake_drivers(HOST_NS)
    agent = Agent(host, host_netns=HOST_NS, run_dir=RUN_DIR, drivers=fake.drivers)
    held = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "plan", checked_plan)
        for state in [*states, HostState(host, 0)]:
            held = deliver(held, state)
            for spec in (state.firewall, held.firewall):  # compiled, and as delivered
                assert firewall_loaded.frame_text(spec) == codec.firewall_to_json(
                    without_members(spec)
                )
            for _ in range(2):  # and again: the host as the pass left it
                agent.run_once(held)
                full = observe(agent.drivers, agent.layout, held)
                assert plan(held, agent.last_observed) == plan(held, full)  # seen incrementally


@PROPERTY
@given(snapshots(), snapshots())
def test_plans_of_compiled_states_equal_fresh_ones(first: Any, second: Any) -> None:
    host = "h1"
    passes([compile_host(first, host), compile_host(second, host), compile_host(first, host)], host)


def test_plans_of_a_growing_guarded_host_equal_fresh_ones() -> None:
    """Ports and their remote group's members come one by one, then go (the firewall's frame,
    buckets and updates)."""
    more = [guarded(20 + i, [WEB, CLIENTS]) for i in range(4)]
    states = [compile_host(world(SERVER, CLIENT, *more[:i]), COMPUTE) for i in range(5)]
    assert states[-1].firewall.ports
    passes([*states, *reversed(states)], COMPUTE)


@FAST
@given(first=host_states(), second=host_states(), taken=st.sets(st.sampled_from(
    ["networks", "ports", "namespaces", "radvd", "dnsmasq", "workloads"]
)))  # fmt: skip
def test_plans_of_states_sharing_sections_equal_fresh_ones(
    first: HostState, second: HostState, taken: set[str]
) -> None:
    """A state made of another's sections (the same objects) and new ones."""
    import dataclasses

    mixed = dataclasses.replace(first, **{name: getattr(second, name) for name in taken})
    passes([first, mixed, second], "h1")


PATHS = ["/r/a", "/r/a.b", "/r/a'b", '/r/a"b', "/r/a'), text=", "/r/b", "/r/a/b"]
TEXTS = ["", "x", "x\n", "'", '"', "\\", "é", "a'b\"c"]


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[int, Action]]:
    one = st.one_of(
        st.builds(WriteFile, st.sampled_from(PATHS).map(Path), st.sampled_from(TEXTS)),
        st.builds(
            LoadFirewall,
            st.sampled_from(TEXTS),
            st.sampled_from(["d1", "d2"]),
            st.just(FirewallSpec()),
        ),
        st.builds(
            SetLink,
            st.sampled_from([None, "v6h-a"]),
            st.sampled_from(["tap1", "lo"]),
            up=st.booleans(),
        ),
        st.builds(
            StartDaemon,
            st.just("radvd"),
            st.just(None),
            st.just(("radvd",)),
            *[st.sampled_from(PATHS).map(Path)] * 3,
            st.sampled_from(TEXTS),
        ),
    )
    return draw(st.lists(st.tuples(st.integers(0, 3), one), max_size=12))


@FAST
@given(steps())
def test_the_order_is_by_phase_then_repr(added: list[tuple[int, Action]]) -> None:
    p = reconcile._Plan(HostState("h1", 1), None)  # type: ignore[arg-type]
    for phase, action in added:
        p.add(phase, action)
    seen: set[Action] = set()
    expected = []
    for _phase, _key, action in sorted(((ph, repr(a), a) for ph, a in added), key=lambda s: s[:2]):
        if action not in seen:
            seen.add(action)
            expected.append(action)
    assert p.sort() == expected


def test_a_tap_whose_bridge_went_and_came_back_is_enslaved_again() -> None:
    """Hypothesis found it: a workload stays plugged while its port leaves this host, so the
    network's bridge goes (the kernel releases the tap); when the port comes back the bridge
    is made again and the tap must be enslaved again, although no action of the pass named
    it. The incremental view kept the tap's old master until a full read."""
    from tests.unit.test_compiler import network, port, snapshot, workload

    net1, net2 = network(1), network(2)
    kept = port(1, net1, host="h1")
    leaving = port(3, net2, host="h1")
    vm = {**workload(500, leaving, host="h1"), "project_id": "p1"}
    here = snapshot(networks=[net1, net2], ports=[kept, leaving], workloads=[vm])
    gone = snapshot(networks=[net1, net2], ports=[kept, {**leaving, "binding:host_id": "h2"}],
                    workloads=[vm])  # fmt: skip
    passes([compile_host(here, "h1"), compile_host(gone, "h1"), compile_host(here, "h1")], "h1")
