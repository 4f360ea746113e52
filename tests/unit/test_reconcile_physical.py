"""A flat network's physical interface in the agent's plan (``agent/physical.py``) against the
fake drivers: enslaved to the bridge and up, IPv6 off on the host side, never created or
deleted, released from the bridge when the network goes, and left alone when not the agent's."""

from __future__ import annotations

from tests.unit.test_reconcile import HOST_NS, RUN_DIR, STAND_IN
from v6fabric.agent.actions import AddBridge, DeleteLink, SetLink
from v6fabric.agent.host import fake_drivers
from v6fabric.agent.loop import Agent
from v6fabric.agent.observe import observe
from v6fabric.agent.reconcile import plan
from v6fabric.hoststate.model import (
    HostState,
    NetworkSpec,
    PortSpec,
    WorkloadInterface,
    WorkloadSpec,
    bridge_name,
    tap_name,
    workload_namespace,
)

NET = "flat0000001-net"
BRIDGE = bridge_name(NET)
IFACE = "eth1"


def flat_state(iface: str | None = IFACE, revision: int = 1) -> HostState:
    port = "flatport001-port"
    nic = WorkloadInterface(port, "eth0", tap_name(port), "fa:16:3e:00:00:10", 1500)
    return HostState(
        "h1",
        revision,
        networks=(NetworkSpec(NET, BRIDGE, 1500, physical_interface=iface),),
        ports=(PortSpec(port, NET, "workload", nic.tap, nic.mac, 1500),),
        workloads=(WorkloadSpec("w1", "w1", workload_namespace("w1"), (nic,)),),
    )


def host_with_nic(mappings: dict[str, str] | None = None):
    """An agent told ``physnet1=eth1`` and a host namespace with its ``eth1``, down."""
    fake = fake_drivers(HOST_NS)
    agent = Agent(
        "h1",
        host_netns=HOST_NS,
        run_dir=RUN_DIR,
        drivers=fake.drivers,
        renderers=STAND_IN,
        physical_networks={"physnet1": IFACE} if mappings is None else mappings,
    )
    assert agent.run_once(HostState("h1", 0)).converged  # makes the host namespace
    fake.kernel._new(HOST_NS, IFACE, "veth", "02:00:00:00:99:01", 1500)
    return fake, agent


def agent_plan(agent: Agent, state: HostState) -> list:
    observed = observe(agent.drivers, agent.layout, state)
    return plan(
        state, observed, renderers=STAND_IN, physical_interfaces=agent.physical_networks.values()
    )


def nic(fake):
    return fake.kernel.links[HOST_NS][IFACE]


def test_the_interface_joins_the_bridge_after_it_is_made_and_comes_up() -> None:
    fake, agent = host_with_nic()
    actions = agent_plan(agent, flat_state())
    enslave = actions.index(SetLink(HOST_NS, IFACE, master=BRIDGE, up=True))
    assert enslave > actions.index(AddBridge(HOST_NS, BRIDGE, 1500))
    report = agent.run_once(flat_state())
    assert report.converged, report.failed
    assert (nic(fake).master, nic(fake).up, nic(fake).sysctls["disable_ipv6"]) == (
        BRIDGE,
        True,
        "1",
    )
    assert agent_plan(agent, flat_state()) == []
    assert agent.run_once(flat_state()).applied == []


def test_when_the_network_goes_the_interface_is_released_and_stays() -> None:
    fake, agent = host_with_nic()
    assert agent.run_once(flat_state()).converged
    report = agent.run_once(HostState("h1", 2))
    assert report.converged, report.failed
    assert DeleteLink(HOST_NS, IFACE) not in report.applied
    assert IFACE in fake.kernel.links[HOST_NS] and nic(fake).master is None
    assert BRIDGE not in fake.kernel.links[HOST_NS]
    assert agent_plan(agent, HostState("h1", 2)) == []


def test_a_state_without_the_interface_takes_it_out_of_the_bridge_that_stays() -> None:
    fake, agent = host_with_nic()
    assert agent.run_once(flat_state()).converged
    report = agent.run_once(flat_state(None, revision=2))
    assert report.converged, report.failed
    assert SetLink(HOST_NS, IFACE, master="") in report.applied
    assert nic(fake).master is None and BRIDGE in fake.kernel.links[HOST_NS]


def test_an_interface_not_there_is_awaited_not_made() -> None:
    fake, agent = host_with_nic()
    report = agent.run_once(flat_state("eth7"))  # no such interface (yet)
    assert "eth7" not in fake.kernel.links[HOST_NS]
    assert not any(getattr(a, "name", None) == "eth7" for a in report.applied + report.pending)
    fake.kernel._new(HOST_NS, "eth7", "veth", "02:00:00:00:99:07", 1500)  # the NIC arrives
    assert agent.run_once(flat_state("eth7")).converged
    assert fake.kernel.links[HOST_NS]["eth7"].master == BRIDGE


def test_an_interface_the_agent_was_not_told_about_is_left_on_the_bridge() -> None:
    fake, agent = host_with_nic(mappings={})  # someone else cabled eth1 into the bridge
    assert agent.run_once(flat_state(None)).converged
    nic(fake).master = BRIDGE
    assert agent_plan(agent, flat_state(None, revision=2)) == []
