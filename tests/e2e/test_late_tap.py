"""Nova's order: the port is bound to the host first, and the hypervisor plugs the VM's tap
afterwards. No state change follows the tap, so the agent must notice it by itself, and
promptly: Nova holds the VM until the port is ACTIVE (network-vif-plugged)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lab import SLAAC, AgentThread, Lab, one_host_lab
from v6fabric.drivers.commands import run
from v6fabric.hoststate.model import bridge_name, tap_name

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

# Far above the agent's tap watch (0.2 s), far below the 30 s between its full reads of the
# host, which were the only other way it would have looked again.
NOTICED_WITHIN = 10.0


@pytest.fixture
def lab() -> Iterator[Lab]:
    with one_host_lab() as lab:
        yield lab


def test_a_tap_plugged_after_the_binding_makes_the_port_active(lab: Lab) -> None:
    # An agent as deployed: a 30 s long-poll, so only the tap watch can wake it.
    lab.running.stop()
    agent = lab.new_agent()
    lab.running = AgentThread(agent, 30.0).start()
    net = lab.network(name="late-tap")
    lab.subnet(net, "2001:db8:77::/64", **SLAAC)
    port = lab.port(net, **{"binding:host_id": lab.host})
    tap = tap_name(port["id"])
    wait_for(
        "a pass over the bound port, its tap missing",
        lambda: (
            agent.last_state is not None
            and any(p.port_id == port["id"] for p in agent.last_state.ports)
        ),
        15,
    )
    assert lab.show("port", port["id"])["status"] == "DOWN"

    # the hypervisor plugs the tap, as libvirt does for a VM's NIC
    run(["ip", "-n", lab.host_netns, "tuntap", "add", "dev", tap, "mode", "tap"])
    wait_for(
        "the port ACTIVE",
        lambda: lab.show("port", port["id"])["status"] == "ACTIVE",
        NOTICED_WITHIN,
    )
    links = run(["ip", "-n", lab.host_netns, "-o", "link", "show", "dev", tap]).stdout
    assert f"master {bridge_name(net['id'])} " in links and ",UP" in links, links
