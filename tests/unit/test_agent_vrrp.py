"""HA router instances in the agent (``agent/vrrp.py`` and the ``vrrp_managed``/``hooked``
rules of ``reconcile``) against the fake drivers: keepalived starts once the namespace and its
legs exist, with its own pid files cleared; the legs are created down and their link state and
global addresses are never the agent's; radvd is written and reloaded only where the hook runs
it; a changed config is a reload, a spec gone a stop; labs name the namespace per host; the
status report carries the hook's states; VXLAN learning changes in place and learnt entries are
not ours."""

from __future__ import annotations

import dataclasses
import signal
import threading
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_reconcile import EMPTY, FAST, RUN_DIR, STAND_IN, assert_nothing_of_ours
from v6fabric.agent import vrrp
from v6fabric.agent.actions import (
    AddVeth,
    ReloadDaemon,
    SetLink,
    StartDaemon,
    StopDaemon,
)
from v6fabric.agent.host import fake_drivers
from v6fabric.agent.loop import Agent
from v6fabric.agent.observe import observe
from v6fabric.agent.reconcile import plan
from v6fabric.drivers.fdb import entries
from v6fabric.drivers.netlink import AddAddress, SetVxlanLearning
from v6fabric.hoststate.model import (
    HostState,
    NamespaceSpec,
    NetworkSpec,
    OverlaySpec,
    PortSpec,
    RadvdSpec,
    RaInterface,
    RaPrefix,
    bridge_name,
    router_namespace,
    tap_name,
    vxlan_name,
)
from v6fabric.hoststate.vrrp import VirtualAddress, VrrpSpec

NS = router_namespace("hr1")
NET, HA_NET = "hanet000001-net", "hanet000002-ha"
QR_PORT, HA_PORT = "haqrport001-port", "hahaport001-port"
QR, HA = "qr-" + QR_PORT[:11], "ha-" + HA_PORT[:11]


def ha_state(*, revision: int = 1, prefix: str = "2001:db8:1::/64", vips: bool = True) -> HostState:
    ports = (
        PortSpec(QR_PORT, NET, "router", tap_name(QR_PORT), "fa:16:3e:00:00:01", 1450,
                 namespace=NS, ifname=QR, vrrp_managed=True),
        PortSpec(HA_PORT, HA_NET, "router", tap_name(HA_PORT), "fa:16:3e:00:00:0a", 1450,
                 namespace=NS, ifname=HA),
    )  # fmt: skip
    radvd = RadvdSpec(NS, (RaInterface(QR, False, False, 1450, (RaPrefix(prefix, True),)),), True)
    spec = VrrpSpec(
        NS,
        "hr1",
        3,
        HA,
        (QR,),
        (VirtualAddress("2001:db8:1::1/64", QR),) if vips else (),
        ("fe80::f816:3eff:fe00:b",),
    )
    networks = tuple(NetworkSpec(n, bridge_name(n), 1450) for n in (NET, HA_NET))
    return HostState(
        "h1",
        revision,
        networks=networks,
        ports=ports,
        namespaces=(NamespaceSpec(NS, forwarding=True),),
        radvd=(radvd,),
        vrrp=(spec,),
    )


def new_agent(host_netns: str | None = None):
    fake = fake_drivers(host_netns)
    agent = Agent("h1", host_netns=host_netns, run_dir=RUN_DIR, drivers=fake.drivers,
                  renderers=STAND_IN)  # fmt: skip
    return fake, agent


def current_plan(agent: Agent, state: HostState) -> list:
    return plan(state, observe(agent.drivers, agent.layout, state), renderers=STAND_IN)


def daemon_file(agent: Agent, kind: str, suffix: str, namespace: str = NS) -> Path:
    return agent.layout.daemon_file(kind, namespace, suffix)


def test_keepalived_starts_after_the_legs_which_the_agent_creates_down() -> None:
    fake, agent = new_agent()
    state = ha_state()
    actions = current_plan(agent, state)
    starts = [a for a in actions if isinstance(a, StartDaemon)]
    assert [s.kind for s in starts] == ["keepalived"]  # radvd: the hook's
    start = starts[0]
    assert start.interfaces == (HA,)
    assert start.clear == (daemon_file(agent, "keepalived", "vrrp.pid"),
                           daemon_file(agent, "keepalived", "check.pid"))  # fmt: skip
    assert "-r" in start.argv and "-c" in start.argv and "--dont-fork" in start.argv
    legs = [i for i, a in enumerate(actions) if isinstance(a, AddVeth)]
    assert max(legs) < actions.index(start)
    assert SetLink(NS, QR, up=True) not in actions
    assert not any(isinstance(a, SetLink) and a.name == QR and a.up for a in actions)
    assert any(isinstance(a, SetLink) and a.name == HA and a.up for a in actions)
    assert not any(isinstance(a, AddAddress) and a.ifname == QR for a in actions)

    report = agent.run_once(state)
    assert report.converged, report.failed
    links = fake.kernel.read(NS).links
    assert links[QR].up is False and links[HA].up is True
    assert fake.kernel.links[NS][QR].sysctls["ndisc_notify"] == "1"
    running = [argv[0] for _ns, argv in fake.processes.running.values()]
    assert running == ["keepalived"]
    assert fake.files.read(daemon_file(agent, "radvd", "conf")) is not None
    assert fake.files.read(daemon_file(agent, "keepalived", "notify")) is not None
    assert report.ports == {QR_PORT: "ACTIVE", HA_PORT: "ACTIVE"}  # a backup's leg is down
    assert agent.run_once(state).applied == []


def test_what_the_hook_does_to_the_legs_is_left_alone() -> None:
    fake, agent = new_agent()
    state = ha_state()
    assert agent.run_once(state).converged
    # the hook on MASTER: the leg up; keepalived: the gateway address on it
    assert fake.kernel.apply(NS, [SetLink(NS, QR, up=True)]) == [None]
    assert fake.kernel.apply(NS, [AddAddress(NS, QR, "2001:db8:1::1/64")]) == [None]
    fresh = Agent("h1", run_dir=RUN_DIR, drivers=fake.drivers, renderers=STAND_IN)
    report = fresh.run_once(state)
    assert report.applied == [] and report.ports[QR_PORT] == "ACTIVE"
    assert "2001:db8:1::1/64" in fake.kernel.read(NS).links[QR].addresses


def test_radvd_is_reloaded_where_the_hook_runs_it_and_never_started_or_stopped() -> None:
    fake, agent = new_agent()
    assert agent.run_once(ha_state()).converged
    changed = ha_state(revision=2, prefix="2001:db8:2::/64")
    report = agent.run_once(changed)
    reloads = [a for a in report.applied if isinstance(a, ReloadDaemon)]
    assert [(r.kind, r.if_running) for r in reloads] == [("radvd", True)]
    assert fake.processes.signals == []  # not running: nothing to signal
    assert agent.run_once(changed).applied == []

    pid = fake.processes.start(  # the hook on MASTER
        ["radvd"],
        netns=NS,
        pid_file=daemon_file(agent, "radvd", "pid"),
        log_file=daemon_file(agent, "radvd", "log"),
    )
    again = ha_state(revision=3, prefix="2001:db8:3::/64")
    assert agent.run_once(again).converged
    assert fake.processes.signals == [(pid, signal.SIGHUP)]
    assert pid in fake.processes.running
    fake.processes.kill(pid)  # the hook on BACKUP
    assert agent.run_once(again).applied == []


def test_a_changed_config_reloads_keepalived_and_a_spec_gone_stops_it() -> None:
    fake, agent = new_agent()
    assert agent.run_once(ha_state()).converged
    (pid,) = fake.processes.running
    report = agent.run_once(ha_state(revision=2, vips=False))
    assert [a.kind for a in report.applied if isinstance(a, ReloadDaemon)] == ["keepalived"]
    assert fake.processes.signals == [(pid, signal.SIGHUP)]
    plain = dataclasses.replace(ha_state(revision=3), vrrp=())
    report = agent.run_once(plain)
    assert [a.kind for a in report.applied if isinstance(a, StopDaemon)] == ["keepalived"]
    assert fake.processes.running == {}
    assert not any(
        n.startswith("keepalived.") for n in fake.files.listdir(agent.layout.netns_dir(NS))
    )


def test_a_keepalived_that_died_is_started_again_with_its_stale_pid_files_cleared() -> None:
    fake, agent = new_agent()
    assert agent.run_once(ha_state()).converged
    (pid,) = fake.processes.running
    fake.files.write(daemon_file(agent, "keepalived", "vrrp.pid"), "4242\n")
    fake.processes.kill(pid)
    report = Agent("h1", run_dir=RUN_DIR, drivers=fake.drivers, renderers=STAND_IN).run_once(
        ha_state()
    )
    assert [a.kind for a in report.applied if isinstance(a, StartDaemon)] == ["keepalived"]
    assert fake.files.read(daemon_file(agent, "keepalived", "vrrp.pid")) is None


def test_a_lab_names_the_namespace_per_host_and_reports_the_hooks_states() -> None:
    host = "v6h-unit"
    fake, agent = new_agent(host)
    state = ha_state()
    local = vrrp.ha_namespace(NS, host)
    assert local == f"{NS}@{host}"
    localised = vrrp.localise(state, host)
    assert vrrp.localise(state, host) is localised and vrrp.localise(state, None) is state
    assert {p.namespace for p in localised.ports} == {local}
    assert localised.vrrp[0].namespace == localised.radvd[0].namespace == local
    report = agent.run_once(state)
    assert (
        report.converged
        and local in fake.kernel.namespaces()
        and NS not in fake.kernel.namespaces()
    )
    assert report.routers == {}  # the hook has not run yet
    fake.files.write(daemon_file(agent, "keepalived", "state", local), "active\n")
    assert agent.run_once(state).routers == {"hr1": "active"}
    fake.files.write(daemon_file(agent, "keepalived", "state", local), "standby\n")
    assert agent.router_states() == {"hr1": "standby"}


def test_vxlan_learning_changes_in_place_and_learnt_entries_are_not_ours() -> None:
    fake, agent = new_agent("v6h-unit")
    overlay = OverlaySpec(vxlan_name(NET), 10, "fd00::1", ("fd00::2",))
    state = HostState("h1", 1, networks=(NetworkSpec(NET, bridge_name(NET), 1450, overlay),))
    assert agent.run_once(state).converged
    learning = dataclasses.replace(
        state, revision=2, networks=(NetworkSpec(NET, bridge_name(NET), 1450,
                                                 dataclasses.replace(overlay, learning=True)),)
    )  # fmt: skip
    actions = current_plan(agent, learning)
    assert actions == [SetVxlanLearning("v6h-unit", vxlan_name(NET), True)]
    assert agent.run_once(learning).converged
    assert fake.kernel.read("v6h-unit").links[vxlan_name(NET)].learning is True
    assert current_plan(agent, learning) == []
    raws = [
        {"mac": "fa:16:3e:00:00:01", "dst": "fd00::2", "flags": ["self"], "state": "permanent"},
        {"mac": "fa:16:3e:00:00:02", "dst": "fd00::3", "flags": ["self"], "state": ""},
        {"mac": "fa:16:3e:00:00:03", "dst": "fd00::4", "flags": ["self"]},  # older iproute2
    ]
    assert entries(raws) == {("fa:16:3e:00:00:01", "fd00::2"), ("fa:16:3e:00:00:03", "fd00::4")}


def ha_variants() -> list[HostState]:
    base = ha_state()
    return [
        base,
        ha_state(revision=2, prefix="2001:db8:9::/64"),
        ha_state(revision=3, vips=False),
        dataclasses.replace(base, revision=4, vrrp=()),  # no longer HA
        dataclasses.replace(base, revision=5, radvd=()),  # no RA
        HostState("h1", 6),
    ]


@FAST
@given(sequence=st.lists(st.sampled_from(range(6)), min_size=1, max_size=5))
def test_any_ha_state_after_any_other_converges_and_leaves_nothing(sequence: list[int]) -> None:
    fake, agent = new_agent("v6h-unit")
    variants = ha_variants()
    for index in sequence:
        state = variants[index]
        assert agent.run_once(state).converged
        fresh = Agent("h1", host_netns="v6h-unit", run_dir=RUN_DIR, drivers=fake.drivers,
                      renderers=STAND_IN)  # fmt: skip
        writes = fake.kernel.writes
        assert fresh.run_once(state).applied == [] and fake.kernel.writes == writes
    assert agent.run_once(EMPTY).converged
    assert_nothing_of_ours(fake, "v6h-unit")


def test_the_hook_is_refreshed_when_legs_or_radvd_config_come_after_its_transition() -> None:
    """A master's hook ran before a leg existed (an interface added to the router later) or
    before radvd had a config: the agent runs the hook's REFRESH, which acts only on a master."""
    fake, agent = new_agent()
    hook = str(vrrp.hook_script(agent.layout, NS))
    assert agent.run_once(ha_state()).converged
    assert fake.processes.ran == [(NS, ("sh", hook, "REFRESH"))]  # the leg was made
    assert agent.run_once(ha_state()).applied == [] and len(fake.processes.ran) == 1
    assert agent.run_once(ha_state(revision=2, prefix="2001:db8:2::/64")).converged
    assert fake.processes.ran[1:] == [(NS, ("sh", hook, "REFRESH"))]  # radvd's new config


def test_a_lab_names_a_distributed_routers_instance_per_host_and_no_other_namespace() -> None:
    shared, alone = "v6r-dvr", "v6r-legacy"
    state = HostState(
        host="h1",
        revision=1,
        namespaces=(
            NamespaceSpec(shared, forwarding=True, distributed=True),
            NamespaceSpec(alone, forwarding=True),
        ),
    )
    localised = vrrp.localise(state, "v6h-unit")
    assert [ns.name for ns in localised.namespaces] == [f"{shared}@v6h-unit", alone]
    assert vrrp.localise(state, None) is state
    assert (
        vrrp.localise(dataclasses.replace(state, namespaces=state.namespaces[1:]), "v6h-unit")
        .namespaces[0]
        .name
        == alone
    )


def with_second_leg(state: HostState) -> HostState:
    """``state`` with an interface added to the router: a second leg on another network."""
    port_id, net = "haqrport002-port", "hanet000003-net"
    leg = "qr-" + port_id[:11]
    port = PortSpec(port_id, net, "router", tap_name(port_id), "fa:16:3e:00:00:02", 1450,
                    namespace=NS, ifname=leg, vrrp_managed=True)  # fmt: skip
    spec = state.vrrp[0]
    spec = dataclasses.replace(
        spec,
        legs=tuple(sorted((*spec.legs, leg))),
        addresses=(*spec.addresses, VirtualAddress("2001:db8:3::1/64", leg)),
    )
    return dataclasses.replace(
        state,
        revision=state.revision + 1,
        networks=(*state.networks, NetworkSpec(net, bridge_name(net), 1450)),
        ports=tuple(sorted((*state.ports, port), key=lambda p: p.port_id)),
        vrrp=(spec,),
    )


def test_a_leg_made_in_a_later_round_of_the_same_pass_refreshes_the_hook_again() -> None:
    """A newer state taken up between the rounds of one pass adds a leg after the first
    round's REFRESH: that leg needs a REFRESH of its own (a master's hook may have run in
    between with the legs it knew, as seen in the lab: the second network's leg stayed down)."""
    fake, agent = new_agent()
    hook = str(vrrp.hook_script(agent.layout, NS))
    later = [with_second_leg(ha_state())]
    report = agent.run_once(ha_state(), newer=lambda: later.pop() if later else None)
    assert report.converged and report.state is not None and len(report.state.vrrp[0].legs) == 2
    assert fake.processes.ran == [(NS, ("sh", hook, "REFRESH"))] * 2


def test_a_transition_after_the_pass_read_the_states_is_still_reported() -> None:
    """MASTER then BACKUP 40 ms apart: the pass read and reported "active"; the wait that
    follows compares the hook's state with that report, not with a read of its own (which
    saw "standby" already, found no change, and left "active" reported for good: lab)."""
    fake, agent = new_agent()
    state = ha_state()
    assert agent.run_once(state).converged
    fake.files.write(daemon_file(agent, "keepalived", "state"), "active\n")
    assert agent.run_once(state).routers == {"hr1": "active"}
    assert not agent.routers_changed()
    fake.files.write(daemon_file(agent, "keepalived", "state"), "standby\n")  # the BACKUP
    stop = threading.Event()

    class NoState:  # the feed: no new state; the third look ends the wait
        looks = 0

        def take(self, timeout: float) -> None:
            self.looks += 1
            if self.looks >= 3:
                stop.set()

    feed = NoState()
    assert agent._next_state(feed, stop, timeout=60) is None  # type: ignore[arg-type]
    assert feed.looks == 1  # a pass (and its report) at once, not at the next state
    assert agent.run_once(state).routers == {"hr1": "standby"} and not agent.routers_changed()
