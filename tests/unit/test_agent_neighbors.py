"""Distributed routers on the host side (R20): permanent neighbours kept exactly, the central
``v6s-`` namespace owned as a router's, the legs' shared link-local kept, and a distributed
instance's namespace named per host in a lab (``vrrp.localise``)."""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess

from tests.unit.test_reconcile import RUN_DIR, STAND_IN, current_plan
from v6fabric.agent import vrrp
from v6fabric.agent.host import fake_drivers
from v6fabric.agent.loop import Agent
from v6fabric.agent.observe import observe
from v6fabric.agent.reconcile import plan
from v6fabric.drivers import iproute, neighbors, netlink
from v6fabric.drivers.neighbors import DeleteNeighbor, Neighbor, ReplaceNeighbor, parse_neighbors
from v6fabric.drivers.netlink import AddAddress, AddVeth, SetLink
from v6fabric.hoststate.dvr import central_leg_id, central_leg_mac, host_leg_mac
from v6fabric.hoststate.model import (
    CENTRAL_IF_PREFIX,
    HostState,
    NamespaceSpec,
    NeighborSpec,
    NetworkSpec,
    PortSpec,
    bridge_name,
    central_namespace,
    router_namespace,
    tap_name,
)

NET = "dddd0000-net"
ROUTER = "rrrr0000-router"
LEG = "llll0000000-leg"
NS = router_namespace(ROUTER)
QR = "qr-" + LEG[:11]
SHARED_LL = "fe80::f816:3eff:fe00:101/64"  # the EUI-64 of the port's API MAC


def dvr_state(neighbors: tuple[NeighborSpec, ...], *, central: bool = False) -> HostState:
    leg = PortSpec(
        LEG,
        NET,
        "router",
        tap_name(LEG),
        host_leg_mac("h1", LEG),
        1450,
        namespace=NS,
        ifname=QR,
        addresses=("2001:db8:1::1/64", SHARED_LL),
    )
    ports = [leg]
    namespaces = [NamespaceSpec(NS, True, neighbors=neighbors, distributed=True)]
    if central:
        leg_id = central_leg_id(ROUTER, NET)
        sg = PortSpec(
            leg_id,
            NET,
            "router",
            tap_name(leg_id),
            central_leg_mac(ROUTER, NET),
            1450,
            namespace=central_namespace(ROUTER),
            ifname=CENTRAL_IF_PREFIX + leg_id[:11],
        )
        ports.append(sg)
        moved = tuple(dataclasses.replace(n, ifname=sg.ifname) for n in neighbors)
        namespaces.append(NamespaceSpec(central_namespace(ROUTER), True, neighbors=moved))
    return HostState(
        "h1",
        1,
        (NetworkSpec(NET, bridge_name(NET), 1450),),
        tuple(ports),
        tuple(namespaces),
    )


WA = NeighborSpec(QR, "2001:db8:1::a", "fa:16:3e:00:00:0a")
WB = NeighborSpec(QR, "2001:DB8:1::b", "FA:16:3E:00:00:0B")  # normalised by the agent
WB4 = NeighborSpec(QR, "10.1.0.11", "fa:16:3e:00:00:0b")


def new_agent(host_netns: str | None = None):
    fake = fake_drivers(host_netns)
    agent = Agent(
        "h1", host_netns=host_netns, run_dir=RUN_DIR, drivers=fake.drivers, renderers=STAND_IN
    )
    return fake, agent


def entries(*specs: NeighborSpec) -> set[Neighbor]:
    return {Neighbor(s.ifname, str(ipaddress.ip_address(s.address)), s.mac.lower()) for s in specs}


def test_neighbours_are_added_after_their_link_and_addresses_and_converge() -> None:
    fake, agent = new_agent()
    state = dvr_state((WA, WB, WB4))
    actions = current_plan(agent, state)
    kinds = [type(a) for a in actions]
    first_neighbor = kinds.index(ReplaceNeighbor)
    assert kinds.index(AddVeth) < first_neighbor
    assert max(i for i, a in enumerate(actions) if isinstance(a, AddAddress)) < first_neighbor
    assert max(i for i, a in enumerate(actions) if isinstance(a, SetLink)) < first_neighbor
    report = agent.run_once(state)
    assert report.converged, report.failed
    assert fake.kernel.neighbors[NS] == entries(WA, WB, WB4)
    assert current_plan(agent, state) == []
    writes = fake.kernel.writes
    assert agent.run_once(state).applied == [] and fake.kernel.writes == writes


def test_neighbours_are_kept_exactly() -> None:
    fake, agent = new_agent()
    agent.run_once(dvr_state((WA, WB)))
    moved = dataclasses.replace(WA, mac="fa:16:3e:00:00:aa")
    fake.kernel.apply(
        NS, [ReplaceNeighbor(NS, Neighbor(QR, "2001:db8:1::99", "02:00:00:00:00:99"))]
    )
    state = dvr_state((moved,))
    actions = current_plan(agent, state)
    assert DeleteNeighbor(NS, QR, "2001:db8:1::b") in actions
    assert DeleteNeighbor(NS, QR, "2001:db8:1::99") in actions  # not ours, but permanent
    assert ReplaceNeighbor(NS, Neighbor(QR, "2001:db8:1::a", "fa:16:3e:00:00:aa")) in actions
    assert agent.run_once(state).converged
    assert fake.kernel.neighbors[NS] == entries(moved)
    assert agent.run_once(dvr_state(())).converged
    assert fake.kernel.neighbors[NS] == set()


def test_a_flushed_link_gets_its_neighbours_back() -> None:
    fake, agent = new_agent()
    state = dvr_state((WA, WB))
    agent.run_once(state)
    fake.kernel.apply(NS, [SetLink(NS, QR, up=False)])  # flushes, as the kernel's
    assert fake.kernel.neighbors[NS] == set()
    observed = observe(agent.drivers, agent.layout, state)  # a full read sees it
    again = plan(state, observed, renderers=STAND_IN)
    assert {a for a in again if isinstance(a, ReplaceNeighbor)} == {
        ReplaceNeighbor(NS, n) for n in entries(WA, WB)
    }
    fake.kernel.apply(None, [netlink.DeleteLink(NS, QR)])  # the leg goes: entries with it
    fake.kernel.delete_namespace(NS)
    fresh = Agent("h1", run_dir=RUN_DIR, drivers=agent.drivers, renderers=STAND_IN)
    assert fresh.run_once(state).converged
    assert fake.kernel.neighbors[NS] == entries(WA, WB)


def test_the_leg_keeps_the_shared_link_local() -> None:
    fake, agent = new_agent()
    state = dvr_state((WA,))
    assert AddAddress(NS, QR, SHARED_LL) in current_plan(agent, state)
    assert iproute._op_line(AddAddress(NS, QR, SHARED_LL)).endswith(" nodad")
    agent.run_once(state)
    link = fake.kernel.links[NS][QR]
    assert SHARED_LL in link.addresses and link.mac == host_leg_mac("h1", LEG)
    assert current_plan(agent, state) == []


def test_the_central_namespace_is_ours() -> None:
    fake, agent = new_agent()
    central = central_namespace(ROUTER)
    agent.run_once(dvr_state((WA,), central=True))
    assert central in fake.kernel.namespaces()
    state = dvr_state((WA,), central=True)
    (sg_ns,) = (ns for ns in state.namespaces if ns.name == central)
    assert fake.kernel.neighbors[central] == entries(*sg_ns.neighbors)
    fresh = Agent("h1", run_dir=RUN_DIR, drivers=agent.drivers, renderers=STAND_IN)
    assert fresh.run_once(state).applied == []  # recognised after a restart
    sg = next(p for p in state.ports if p.namespace == central)
    without_leg = dataclasses.replace(state, ports=tuple(p for p in state.ports if p is not sg))
    actions = current_plan(fresh, without_leg)
    assert netlink.DeleteLink(central, sg.ifname) in actions  # a stray sg- leg is ours
    assert fresh.run_once(dvr_state((WA,))).converged
    assert central not in fake.kernel.namespaces()


def test_a_lab_names_a_distributed_instance_per_host() -> None:
    state = dvr_state((WA,))
    local = vrrp.localise(state, "v6h-one")
    assert local.namespaces[0].name == f"{NS}@v6h-one"
    assert {p.namespace for p in local.ports} == {f"{NS}@v6h-one"}
    assert vrrp.localise(state, None) is state
    fake, agent = new_agent("v6h-one")
    assert agent.run_once(state).converged
    assert fake.kernel.neighbors[f"{NS}@v6h-one"] == entries(WA)


def test_ip_lines_and_parsing() -> None:
    line = iproute._op_line
    entry = Neighbor(QR, "2001:db8:1::a", "fa:16:3e:00:00:0a")
    assert line(ReplaceNeighbor(NS, entry)) == (
        f"neigh replace 2001:db8:1::a lladdr fa:16:3e:00:00:0a dev {QR} nud permanent"
    )
    assert line(DeleteNeighbor(NS, QR, "10.1.0.11")) == f"neigh del 10.1.0.11 dev {QR}"
    assert netlink.tolerated(
        DeleteNeighbor(NS, QR, "10.1.0.11"), "RTNETLINK answers: No such file or directory"
    )
    raws = [
        {"dst": "2001:DB8:1::a", "dev": QR, "lladdr": "FA:16:3E:00:00:0A", "state": ["PERMANENT"]},
        {"dst": "2001:db8:1::c", "dev": QR, "lladdr": "02:00:00:00:00:0c", "state": ["REACHABLE"]},
        {"dst": "10.1.0.9", "dev": QR, "state": ["PERMANENT"]},  # no MAC: not one of ours
    ]
    assert parse_neighbors(raws) == (entry,)


def test_neighbour_lines_go_to_ip_apart_in_order(monkeypatch) -> None:
    """iproute2 6.1 ends a batch at a failed ``neigh`` line even with ``-force``: neighbour
    operations run as their own batch, line by line only when it failed."""
    calls: list[tuple[list[str], str | None]] = []

    def fake_run(argv, *, input=None, check=True, **_kw):
        calls.append((list(argv), input))
        failed = "neigh del" in (input or "") or argv[3:5] == ["neigh", "del"]
        error = "RTNETLINK answers: No such file or directory" if failed else ""
        return subprocess.CompletedProcess(argv, 2 if failed else 0, "", error)

    monkeypatch.setattr(iproute, "run", fake_run)
    monkeypatch.setattr(neighbors, "run", fake_run)
    entry = Neighbor(QR, "2001:db8:1::a", "fa:16:3e:00:00:0a")
    ops = [
        SetLink(NS, QR, up=True),
        ReplaceNeighbor(NS, entry),
        DeleteNeighbor(NS, QR, "2001:db8:1::b"),
        AddAddress(NS, QR, SHARED_LL),
    ]
    assert iproute.IpNetlink().apply(NS, ops) == [None] * 4  # the delete: already gone
    scripts = [script for _argv, script in calls]
    assert scripts[0] == f"link set dev {QR} up\n"
    assert scripts[1].splitlines() == [iproute._op_line(ops[1]), iproute._op_line(ops[2])]
    assert [argv[3:] for argv, script in calls[2:4]] == [
        iproute._op_line(ops[1]).split(),
        iproute._op_line(ops[2]).split(),
    ]
    assert scripts[4].startswith("addr replace")
