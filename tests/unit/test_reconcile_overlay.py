"""VXLAN overlays in the agent's plan (``agent/overlay.py``) against the fake drivers: the
device after its bridge and its forwarding table after the device, exactly the desired entries,
in-place changes where the kernel allows them, and the properties of ``test_reconcile`` (any
state after any other converges, a second pass writes nothing, nothing of ours is left)."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_reconcile import (
    EMPTY,
    FAST,
    HOST_NS,
    assert_nothing_of_ours,
    current_plan,
    host_states,
    new_host,
)
from v6fabric.agent.actions import (
    AddBridge,
    AddFdb,
    AddVxlan,
    DeleteFdb,
    DeleteLink,
    SetLink,
)
from v6fabric.agent.overlay import DELETE, SETUP, fdb_steps
from v6fabric.drivers.fdb import ZERO_MAC, fdb_line, tolerated
from v6fabric.drivers.iproute import _op_line, _parse_link, batch_results
from v6fabric.hoststate.model import (
    FdbEntry,
    HostState,
    NetworkSpec,
    OverlaySpec,
    PortSpec,
    WorkloadInterface,
    WorkloadSpec,
    bridge_name,
    tap_name,
    vxlan_name,
    workload_namespace,
)

NET = "ovl00000001-net"
BRIDGE, VX = bridge_name(NET), vxlan_name(NET)
LOCAL, R1, R2, R3 = "fd00::11", "fd00::12", "fd00::13", "fd00::14"
MAC1, MAC2 = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"


def overlay_state(
    *,
    vni: int = 1001,
    local: str = LOCAL,
    remotes: tuple[str, ...] = (R1, R2),
    fdb: tuple[tuple[str, str], ...] = ((MAC1, R1), (MAC2, R2)),
    mtu: int = 1450,
    revision: int = 1,
) -> HostState:
    """One network with its overlay and a workload port; remote ports' MACs in ``fdb``."""
    port = "ovlport0001-port"
    nic = WorkloadInterface(port, "eth0", tap_name(port), "fa:16:3e:00:00:10", mtu)
    network = NetworkSpec(NET, BRIDGE, mtu, OverlaySpec(VX, vni, local, remotes))
    entries = tuple(sorted((FdbEntry(VX, m, r) for m, r in fdb), key=lambda e: e.entry_id))
    return HostState(
        "h1",
        revision,
        networks=(network,),
        ports=(PortSpec(port, NET, "workload", nic.tap, nic.mac, mtu),),
        workloads=(WorkloadSpec("w1", "w1", workload_namespace("w1"), (nic,)),),
        fdb=entries,
    )


def table(fake, device: str = VX, netns: str | None = HOST_NS) -> frozenset:
    return fake.drivers.fdb.read(netns, [device]).get(device, frozenset())


def test_plan_from_nothing_builds_the_device_after_the_bridge_then_its_table() -> None:
    fake, agent = new_host()
    state = overlay_state()
    actions = current_plan(agent, state)
    kinds = [type(a) for a in actions]
    device = kinds.index(AddVxlan)
    assert kinds.index(AddBridge) < device
    assert AddVxlan(HOST_NS, VX, 1450, 1001, LOCAL, 4789) in actions
    fdb = [i for i, a in enumerate(actions) if isinstance(a, AddFdb)]
    assert len(fdb) == 4 and min(fdb) > device
    up = actions.index(SetLink(HOST_NS, VX, master=BRIDGE, up=True))
    assert up > kinds.index(AddBridge) and up > device

    report = agent.run_once(state)
    assert report.converged, report.failed
    assert table(fake) == {(ZERO_MAC, R1), (ZERO_MAC, R2), (MAC1, R1), (MAC2, R2)}
    link = fake.kernel.read(HOST_NS).links[VX]
    assert (link.master, link.up, link.mtu, link.vni, link.vxlan_local) == (
        BRIDGE,
        True,
        1450,
        1001,
        LOCAL,
    )
    assert fake.kernel.links[HOST_NS][VX].sysctls["disable_ipv6"] == "1"
    assert current_plan(agent, state) == []
    writes = fake.kernel.writes
    again = agent.run_once(state)
    assert again.applied == [] and fake.kernel.writes == writes


def converge(agent, state: HostState):
    report = agent.run_once(state)
    assert report.converged, report.failed
    assert current_plan(agent, state) == []  # by a full read, not the agent's own view
    return report.applied


def test_changed_remotes_and_macs_change_exactly_those_entries() -> None:
    fake, agent = new_host()
    converge(agent, overlay_state())
    moved = overlay_state(fdb=((MAC1, R2), (MAC2, R2)))  # a port moved host: replaced in place
    assert converge(agent, moved) == [AddFdb(HOST_NS, VX, MAC1, R2)]
    more = overlay_state(remotes=(R1, R2, R3), fdb=((MAC1, R2), (MAC2, R2)))
    assert converge(agent, more) == [AddFdb(HOST_NS, VX, ZERO_MAC, R3)]
    fewer = overlay_state(remotes=(R2, R3), fdb=((MAC2, R2),))
    assert set(converge(agent, fewer)) == {
        DeleteFdb(HOST_NS, VX, ZERO_MAC, R1),
        DeleteFdb(HOST_NS, VX, MAC1, R2),
    }
    assert table(fake) == {(ZERO_MAC, R2), (ZERO_MAC, R3), (MAC2, R2)}


def test_an_mtu_change_is_set_in_place_and_a_vni_or_local_change_replaces_the_device() -> None:
    fake, agent = new_host()
    converge(agent, overlay_state())
    index = fake.kernel.links[HOST_NS][VX].ifindex
    applied = converge(agent, overlay_state(mtu=1400))
    assert SetLink(HOST_NS, VX, mtu=1400) in applied
    assert not [a for a in applied if isinstance(a, AddVxlan | AddFdb | DeleteFdb)]
    assert fake.kernel.links[HOST_NS][VX].ifindex == index
    for changed in (overlay_state(vni=2002), overlay_state(vni=2002, local="192.0.2.11")):
        applied = converge(agent, changed)
        assert applied[0] == DeleteLink(HOST_NS, VX), applied
        assert sum(isinstance(a, AddFdb) for a in applied) == 4  # the new device's table
        assert not [a for a in applied if isinstance(a, DeleteFdb)]
        assert fake.kernel.links[HOST_NS][VX].ifindex != index
        index = fake.kernel.links[HOST_NS][VX].ifindex
    assert fake.kernel.read(HOST_NS).links[VX].vxlan_local == "192.0.2.11"


def test_a_network_or_overlay_gone_takes_its_device_and_nothing_else() -> None:
    fake, agent = new_host()
    state = overlay_state()
    converge(agent, state)
    flat = dataclasses.replace(
        state, networks=(dataclasses.replace(state.networks[0], overlay=None),), fdb=()
    )
    assert converge(agent, flat) == [DeleteLink(HOST_NS, VX)]  # no fdb removal first
    assert BRIDGE in fake.kernel.links[HOST_NS]
    converge(agent, state)
    assert agent.run_once(EMPTY).converged
    assert_nothing_of_ours(fake)


def test_a_stray_overlay_device_is_swept_and_foreign_links_are_not() -> None:
    fake, agent = new_host()
    fake.kernel.apply(HOST_NS, [AddVxlan(HOST_NS, "vx-leftover", 1500, 7, LOCAL, 4789)])
    fake.kernel.apply(HOST_NS, [AddVxlan(HOST_NS, "vxlan0", 1500, 8, LOCAL, 4789)])
    converge(agent, overlay_state())
    assert "vx-leftover" not in fake.kernel.links[HOST_NS]
    assert "vxlan0" in fake.kernel.links[HOST_NS]


def test_a_restarted_agent_and_a_lost_table_entry() -> None:
    fake, agent = new_host()
    state = overlay_state()
    converge(agent, state)
    fresh = type(agent)(
        "h1",
        host_netns=HOST_NS,
        run_dir=agent.layout.run_dir,
        drivers=fake.drivers,
        renderers=agent.renderers,
    )
    assert fresh.run_once(state).applied == []
    fake.drivers.fdb.apply(HOST_NS, [DeleteFdb(HOST_NS, VX, MAC1, R1)])  # someone's hand
    assert current_plan(fresh, state) == [AddFdb(HOST_NS, VX, MAC1, R1)]


def test_fdb_steps_keep_one_remote_per_mac_and_leave_nothing_else() -> None:
    have = frozenset(
        {(MAC1, R1), (MAC1, R2), (MAC2, R3), (ZERO_MAC, R3), ("aa:bb:cc:00:00:01", R1)}
    )
    wanted = frozenset({(MAC1, R2), (MAC2, R1), (ZERO_MAC, R1)})
    steps = fdb_steps(None, VX, wanted, have)
    assert sorted(steps, key=repr) == sorted(
        [
            (DELETE, DeleteFdb(None, VX, MAC1, R1)),
            (DELETE, DeleteFdb(None, VX, ZERO_MAC, R3)),
            (DELETE, DeleteFdb(None, VX, "aa:bb:cc:00:00:01", R1)),
            (SETUP, AddFdb(None, VX, MAC2, R1)),  # a replace: no delete of R3 first
            (SETUP, AddFdb(None, VX, ZERO_MAC, R1)),
        ],
        key=repr,
    )
    assert fdb_steps(None, VX, wanted, wanted) == []


def test_the_lines_and_the_parser() -> None:
    assert _op_line(AddVxlan(None, VX, 1450, 7, "fd00::1", 4789)) == (
        f"link add {VX} mtu 1450 type vxlan id 7 local fd00::1 dstport 4789 nolearning"
    )
    assert fdb_line(AddFdb(None, VX, ZERO_MAC, R1)) == (
        f"fdb append {ZERO_MAC} dev {VX} dst {R1} self permanent"
    )
    assert fdb_line(AddFdb(None, VX, MAC1, R1)) == (
        f"fdb replace {MAC1} dev {VX} dst {R1} self permanent"
    )
    assert fdb_line(DeleteFdb(None, VX, MAC1, R1)) == f"fdb del {MAC1} dev {VX} dst {R1} self"
    ops = [DeleteFdb(None, VX, MAC1, R1), AddFdb(None, "nope", MAC1, R1)]
    stderr = (
        "RTNETLINK answers: No such file or directory\nCommand failed -:1\n"
        'Cannot find device "nope"\nCommand failed -:2\n'
    )
    assert batch_results(ops, stderr, 1, tolerated) == [None, 'Cannot find device "nope"']
    raw = {
        "ifindex": 3,
        "ifname": VX,
        "flags": ["UP"],
        "mtu": 1450,
        "address": "6E:F0:C0:D3:89:00",
        "master": BRIDGE,
        "linkinfo": {
            "info_kind": "vxlan",
            "info_data": {"id": 100, "local6": "FD00:0::a", "port": 4789, "learning": False},
        },
    }
    link = _parse_link(raw)
    assert (link.vni, link.vxlan_local, link.dstport, link.learning) == (
        100,
        "fd00::a",
        4789,
        False,
    )
    assert _parse_link({"ifname": "tapx", "linkinfo": {"info_kind": "veth"}}).vni is None


@st.composite
def overlay_states(draw: st.DrawFn) -> HostState:
    """``host_states`` with an overlay on some networks and remote ports' MACs on them."""
    state = draw(host_states())
    remotes = ["fd00::21", "fd00::22", "192.0.2.23"]
    networks, entries = [], []
    for net in state.networks:
        if draw(st.booleans()):
            device = vxlan_name(net.network_id)
            spec = OverlaySpec(
                device,
                draw(st.sampled_from([100, 200])),
                draw(st.sampled_from([LOCAL, "192.0.2.11"])),
                tuple(sorted(draw(st.sets(st.sampled_from(remotes))))),
            )
            net = dataclasses.replace(net, overlay=spec)
            for k in draw(st.sets(st.integers(1, 3))):
                entries.append(
                    FdbEntry(device, f"fa:16:3e:ff:00:{k:02x}", draw(st.sampled_from(remotes)))
                )
        networks.append(net)
    fdb = tuple(sorted(entries, key=lambda e: e.entry_id))
    return dataclasses.replace(state, networks=tuple(networks), fdb=fdb)


@FAST
@given(first=overlay_states(), second=overlay_states())
def test_any_overlay_state_can_follow_any_other_and_a_second_pass_writes_nothing(
    first: HostState, second: HostState
) -> None:
    fake, agent = new_host()
    converge(agent, first)
    converge(agent, second)
    for net in second.networks:
        if net.overlay is not None:
            want = {(ZERO_MAC, str(r)) for r in net.overlay.remotes}
            want |= {(e.mac, e.remote) for e in second.fdb if e.device == net.overlay.device}
            assert table(fake, net.overlay.device) == want
            link = fake.kernel.read(HOST_NS).links[net.overlay.device]
            assert (link.vni, link.vxlan_local, link.master, link.up) == (
                net.overlay.vni,
                net.overlay.local,
                net.bridge,
                True,
            )
    writes = fake.kernel.writes
    assert agent.run_once(second).applied == [] and fake.kernel.writes == writes
    assert agent.run_once(EMPTY).converged
    assert_nothing_of_ours(fake)
