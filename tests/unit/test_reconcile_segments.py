"""GRE taps and VLAN sub-interfaces in the agent's plan (``agent/segments.py``) against the
fake drivers: made after their bridge, isolated (GRE) before up, idempotent, made again when
what the kernel cannot change does, swept when gone; the physical interface of a vlan network
is never enslaved. And the ``ip`` lines and parsers of the drivers for them."""

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
    AddGretap,
    AddVlan,
    DeleteLink,
    SetBridgePort,
    SetLink,
)
from v6fabric.drivers.iproute import _op_line, _parse_link
from v6fabric.drivers.netlink import AddVeth
from v6fabric.hoststate.model import (
    HostState,
    NetworkSpec,
    OverlaySpec,
    PortSpec,
    WorkloadInterface,
    WorkloadSpec,
    bridge_name,
    gre_name,
    tap_name,
    vlan_name,
    workload_namespace,
)

NET = "seg00000001-net"
BRIDGE = bridge_name(NET)
LOCAL, R1, R2, R3 = "fd00::11", "fd00::12", "fd00::13", "fd00::14"


def gre_state(
    *, key: int = 77, local: str = LOCAL, remotes: tuple[str, ...] = (R1, R2), mtu: int = 1438
) -> HostState:
    overlay = OverlaySpec("gt-seg000", key, local, remotes, kind="gre")
    return _with_workload(NetworkSpec(NET, BRIDGE, mtu, overlay), mtu)


def vlan_state(*, vid: int = 10, iface: str = "eth1", mtu: int = 1500) -> HostState:
    return _with_workload(NetworkSpec(NET, BRIDGE, mtu, physical_interface=iface, vlan=vid), mtu)


def _with_workload(network: NetworkSpec, mtu: int) -> HostState:
    port = "segport0001-port"
    nic = WorkloadInterface(port, "eth0", tap_name(port), "fa:16:3e:00:00:10", mtu)
    return HostState(
        "h1",
        1,
        networks=(network,),
        ports=(PortSpec(port, NET, "workload", nic.tap, nic.mac, mtu),),
        workloads=(WorkloadSpec("w1", "w1", workload_namespace("w1"), (nic,)),),
    )


def converge(agent, state: HostState) -> list:
    report = agent.run_once(state)
    assert report.converged, report.failed
    assert current_plan(agent, state) == []  # by a full read, not the agent's own view
    return report.applied


def test_names_are_short_stable_per_network_and_remote_and_ours_by_prefix() -> None:
    names = {gre_name(NET, r) for r in (R1, R2, R3)}
    assert len(names) == 3 and all(len(n) <= 15 and n.startswith("gt-seg000-") for n in names)
    assert gre_name(NET, "FD00:0::12") == gre_name(NET, R1)  # normalised
    assert gre_name("other000001-net", R1) != gre_name(NET, R1)
    assert vlan_name(NET) == "vl-seg00000001" and len(vlan_name(NET)) <= 15


def test_gre_taps_one_per_remote_isolated_before_up() -> None:
    fake, agent = new_host()
    state = gre_state()
    actions = current_plan(agent, state)
    for remote in (R1, R2):
        tap = gre_name(NET, remote)
        assert AddGretap(HOST_NS, tap, 1438, 77, LOCAL, remote) in actions
        made = actions.index(AddGretap(HOST_NS, tap, 1438, 77, LOCAL, remote))
        enslaved = actions.index(SetLink(HOST_NS, tap, master=BRIDGE))
        isolated = actions.index(SetBridgePort(HOST_NS, tap, True))
        up = actions.index(SetLink(HOST_NS, tap, up=True))
        assert actions.index(AddBridge(HOST_NS, BRIDGE, 1438)) < made < enslaved < isolated < up
    converge(agent, state)
    for remote in (R1, R2):
        link = fake.kernel.read(HOST_NS).links[gre_name(NET, remote)]
        assert (link.kind, link.gre_key, link.tunnel_local, link.tunnel_remote) == (
            "ip6gretap",
            77,
            LOCAL,
            remote,
        )
        assert (link.master, link.isolated, link.up, link.mtu) == (BRIDGE, True, True, 1438)
        assert fake.kernel.links[HOST_NS][link.name].sysctls["disable_ipv6"] == "1"
    tap = fake.kernel.read(HOST_NS).links[tap_name("segport0001-port")]
    assert tap.isolated is False  # a local port is not isolated: the tunnels reach it
    writes = fake.kernel.writes
    assert agent.run_once(state).applied == [] and fake.kernel.writes == writes


def test_a_remote_that_goes_or_changes_replaces_only_its_tap() -> None:
    fake, agent = new_host()
    converge(agent, gre_state())
    kept = fake.kernel.links[HOST_NS][gre_name(NET, R1)].ifindex
    applied = converge(agent, gre_state(remotes=(R1, R3)))
    assert DeleteLink(HOST_NS, gre_name(NET, R2)) in applied
    assert AddGretap(HOST_NS, gre_name(NET, R3), 1438, 77, LOCAL, R3) in applied
    assert fake.kernel.links[HOST_NS][gre_name(NET, R1)].ifindex == kept
    for changed in (gre_state(key=78, remotes=(R1, R3)), gre_state(key=78, local="fd00::99")):
        applied = converge(agent, changed)
        assert DeleteLink(HOST_NS, gre_name(NET, R1)) in applied
    assert fake.kernel.read(HOST_NS).links[gre_name(NET, R1)].tunnel_local == "fd00::99"
    applied = converge(agent, gre_state(mtu=1400, key=78, local="fd00::99"))
    assert {SetLink(HOST_NS, gre_name(NET, r), mtu=1400) for r in (R1, R2)} <= set(applied)
    assert not [a for a in applied if isinstance(a, AddGretap | DeleteLink)]  # in place


def test_a_port_that_lost_its_isolation_gets_it_back_and_ipv4_endpoints_make_gretap() -> None:
    fake, agent = new_host()
    state = gre_state(local="192.0.2.1", remotes=("192.0.2.2",))
    converge(agent, state)
    tap = gre_name(NET, "192.0.2.2")
    assert fake.kernel.read(HOST_NS).links[tap].kind == "gretap"
    fake.kernel.apply(HOST_NS, [SetBridgePort(HOST_NS, tap, False)])  # someone's hand
    assert current_plan(agent, state) == [SetBridgePort(HOST_NS, tap, True)]


def test_gre_network_gone_takes_its_taps_and_a_stray_one_is_swept() -> None:
    fake, agent = new_host()
    fake.kernel.apply(HOST_NS, [AddGretap(HOST_NS, "gt-leftover", 1400, 1, LOCAL, R3)])
    fake.kernel.apply(HOST_NS, [AddGretap(HOST_NS, "gretap9", 1400, 1, LOCAL, R3)])
    state = gre_state()
    converge(agent, state)
    assert "gt-leftover" not in fake.kernel.links[HOST_NS]
    plain = dataclasses.replace(
        state, networks=(dataclasses.replace(state.networks[0], overlay=None),)
    )
    assert set(converge(agent, plain)) == {DeleteLink(HOST_NS, gre_name(NET, r)) for r in (R1, R2)}
    assert agent.run_once(EMPTY).converged
    fake.kernel.apply(HOST_NS, [DeleteLink(HOST_NS, "gretap9")])
    assert_nothing_of_ours(fake)


def _physical(fake, name: str = "eth1") -> None:
    fake.kernel.apply(HOST_NS, [AddVeth(HOST_NS, name, 1500, f"{name}-peer", HOST_NS, "")])


def test_vlan_sub_interface_on_the_bridge_and_the_interface_left_alone() -> None:
    fake, agent = new_host()
    state = vlan_state()
    assert not [a for a in current_plan(agent, state) if isinstance(a, AddVlan)]  # no eth1 yet
    _physical(fake)
    actions = current_plan(agent, state)
    device = vlan_name(NET)
    assert AddVlan(HOST_NS, device, 1500, "eth1", 10) in actions
    assert not [a for a in actions if getattr(a, "name", None) == "eth1"]
    converge(agent, state)
    links = fake.kernel.read(HOST_NS).links
    assert (links[device].kind, links[device].lower, links[device].vlan_id) == ("vlan", "eth1", 10)
    assert (links[device].master, links[device].up, links[device].isolated) == (BRIDGE, True, False)
    assert links["eth1"].master is None and links["eth1"].up is False
    assert "disable_ipv6" not in fake.kernel.links[HOST_NS]["eth1"].sysctls
    applied = converge(agent, vlan_state(vid=20))
    assert applied[0] == DeleteLink(HOST_NS, device)
    assert AddVlan(HOST_NS, device, 1500, "eth1", 20) in applied
    _physical(fake, "eth2")
    assert AddVlan(HOST_NS, device, 1500, "eth2", 20) in converge(
        agent, vlan_state(vid=20, iface="eth2")
    )
    assert agent.run_once(EMPTY).converged
    assert set(fake.kernel.links[HOST_NS]) == {"lo", "eth1", "eth1-peer", "eth2", "eth2-peer"}


@st.composite
def segment_states(draw: st.DrawFn) -> HostState:
    """``host_states`` with some networks GRE overlays and some VLANs on ``eth1``."""
    state = draw(host_states())
    networks = []
    for net in state.networks:
        kind = draw(st.sampled_from(["plain", "gre", "vlan"]))
        if kind == "gre":
            remotes = draw(st.lists(st.sampled_from([R1, R2, R3]), unique=True, max_size=3))
            key = draw(st.sampled_from([5, 6]))
            net = dataclasses.replace(
                net, overlay=OverlaySpec("gt-x", key, LOCAL, tuple(sorted(remotes)), kind="gre")
            )
        elif kind == "vlan":
            net = dataclasses.replace(
                net, physical_interface="eth1", vlan=draw(st.sampled_from([10, 11]))
            )
        networks.append(net)
    return dataclasses.replace(state, networks=tuple(networks))


@FAST
@given(segment_states(), segment_states())
def test_any_segment_state_can_follow_any_other(first: HostState, second: HostState) -> None:
    fake, agent = new_host()
    _physical(fake)
    for state in (first, second):
        assert agent.run_once(state).converged
        assert current_plan(agent, state) == []
    assert agent.run_once(EMPTY).converged
    assert set(fake.kernel.links[HOST_NS]) == {"lo", "eth1", "eth1-peer"}


def test_the_lines_and_the_parser() -> None:
    assert _op_line(AddGretap(None, "gt-a", 1438, 77, "fd00::1", "fd00::2")) == (
        "link add gt-a mtu 1438 type ip6gretap key 77 local fd00::1 remote fd00::2 encaplimit none"
    )
    assert _op_line(AddGretap(None, "gt-a", 1458, 77, "192.0.2.1", "192.0.2.2")) == (
        "link add gt-a mtu 1458 type gretap key 77 local 192.0.2.1 remote 192.0.2.2"
    )
    assert _op_line(AddVlan(None, "vl-a", 1500, "eth1", 10)) == (
        "link add link eth1 name vl-a mtu 1500 type vlan id 10"
    )
    assert _op_line(SetBridgePort(None, "gt-a", True)) == (
        "link set dev gt-a type bridge_slave isolated on"
    )
    gre = _parse_link(  # as ``ip -json -d addr show`` prints it (UML guest, iproute2 6.x)
        {
            "ifindex": 10,
            "ifname": "gt-a",
            "flags": ["UP"],
            "mtu": 1430,
            "link": None,
            "master": "v6b-x",
            "linkinfo": {
                "info_kind": "ip6gretap",
                "info_data": {"remote": "FD00::2", "local": "fd00::1", "ikey": "0.1.17.112"},
                "info_slave_kind": "bridge",
                "info_slave_data": {"state": "forwarding", "isolated": True},
            },
        }
    )
    assert (gre.gre_key, gre.tunnel_local, gre.tunnel_remote, gre.isolated) == (
        70000,
        "fd00::1",
        "fd00::2",
        True,
    )
    vlan = _parse_link(
        {
            "ifname": "vl-a",
            "link": "eth1",
            "linkinfo": {"info_kind": "vlan", "info_data": {"protocol": "802.1Q", "id": 10}},
        }
    )
    assert (vlan.lower, vlan.vlan_id, vlan.isolated, vlan.gre_key) == ("eth1", 10, None, None)
