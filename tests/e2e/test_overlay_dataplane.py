"""Two hosts switch one network over a VXLAN overlay the agent builds (root only), no server.

Each simulated host is a "hypervisor" namespace ``v6h-<tag>a``/``b`` with its own agent;
a veth ``ul0`` between them is the underlay (IPv6 addresses in one run, IPv4 in the other).
Each host's hand-made ``HostState`` has the network (bridge and overlay: the other host as
its only remote, the other workload's MAC in ``fdb``), a workload port and its namespace
workload, to which the test gives a static address, as a guest's own configuration would.

Proved by traffic: the workloads ping each other and hold a TCP exchange; frames captured on
host b's underlay are VXLAN (UDP 4789) with the network's VNI in the underlay's family; the
forwarding tables, read by ``bridge``, are exactly the desired entries; a second pass applies
nothing; without the overlay in the state the device goes, and with it the path.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("scapy")

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.vxlan import VXLAN

from tests.e2e.attacks import Sniffer
from tests.e2e.conftest import wait_for
from tests.e2e.probes import tcp_echo
from tests.e2e.traffic import pings
from v6fabric.agent.loop import Agent
from v6fabric.drivers.commands import run
from v6fabric.drivers.fdb import ZERO_MAC, BridgeFdb
from v6fabric.drivers.iproute import IpNetlink
from v6fabric.drivers.sysctl import ProcSysctls
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

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("ip", "bridge", "ping")),
        reason="needs iproute2 (ip, bridge) and ping",
    ),
]

VNI = 4242
MTU = 1430  # 1500 on the underlay less 70 (IPv6 + UDP + VXLAN + inner Ethernet)
GUEST = {"a": "2001:db8:77::a", "b": "2001:db8:77::b"}
MAC = {"a": "fa:16:3e:0c:0a:01", "b": "fa:16:3e:0c:0b:01"}
UNDERLAY = {6: {"a": "fd00:77::a", "b": "fd00:77::b"}, 4: {"a": "192.0.2.77", "b": "192.0.2.78"}}
OTHER = {"a": "b", "b": "a"}


@dataclasses.dataclass(frozen=True)
class Host:
    name: str  # "a" | "b"
    tag: str
    endpoint: str  # its underlay address

    @property
    def netns(self) -> str:
        return f"v6h-{self.tag}{self.name}"

    @property
    def network(self) -> str:
        return f"{self.tag}n1-network"

    @property
    def port(self) -> str:
        return f"{self.tag}p{self.name}-port"

    @property
    def workload(self) -> WorkloadSpec:
        nic = WorkloadInterface(self.port, "eth0", tap_name(self.port), MAC[self.name], MTU)
        workload_id = f"{self.tag}w{self.name}"
        return WorkloadSpec(workload_id, workload_id, workload_namespace(workload_id), (nic,))

    @property
    def device(self) -> str:
        return vxlan_name(self.network)


def underlay(tag: str, family: int) -> dict[str, Host]:
    """Both hypervisor namespaces (IPv6 off by default, as an agent makes them) joined by a
    veth ``ul0`` with one address each."""
    hosts = {name: Host(name, tag, UNDERLAY[family][name]) for name in ("a", "b")}
    a, b = hosts["a"].netns, hosts["b"].netns
    for host in hosts.values():
        run(["ip", "netns", "add", host.netns])
        ProcSysctls().write(host.netns, {"net.ipv6.conf.default.disable_ipv6": "1"})
    run(["ip", "-n", a, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b])
    plen = 64 if family == 6 else 24
    for host in hosts.values():
        ProcSysctls().write(
            host.netns,
            {"net.ipv6.conf.ul0.disable_ipv6": "0", "net.ipv6.conf.ul0.accept_dad": "0"},
        )
        lines = [f"addr add {host.endpoint}/{plen} dev ul0", "link set ul0 up", "link set lo up"]
        run(["ip", "-n", host.netns, "-batch", "-"], input="\n".join(lines) + "\n")
    return hosts


def host_state(host: Host, other: Host, *, overlay: bool = True, revision: int = 1) -> HostState:
    spec = OverlaySpec(host.device, VNI, host.endpoint, (other.endpoint,)) if overlay else None
    network = NetworkSpec(host.network, bridge_name(host.network), MTU, spec)
    nic = host.workload.interfaces[0]
    port = PortSpec(host.port, host.network, "workload", nic.tap, nic.mac, MTU)
    fdb = (FdbEntry(host.device, MAC[other.name], other.endpoint),) if overlay else ()
    return HostState(
        f"host-{host.name}",
        revision,
        networks=(network,),
        ports=(port,),
        workloads=(host.workload,),
        fdb=fdb,
    )


def configure_guest(host: Host) -> None:
    """What the guest's own configuration would do without RA: MTU and a static address."""
    lines = [f"link set eth0 mtu {MTU}", f"addr add {GUEST[host.name]}/64 dev eth0 nodad"]
    run(["ip", "-n", host.workload.namespace, "-batch", "-"], input="\n".join(lines) + "\n")


@pytest.mark.parametrize("family", [6, 4], ids=["ipv6-underlay", "ipv4-underlay"])
def test_two_hosts_switch_a_network_over_the_vxlan_overlay_the_agent_builds(
    family: int, ns_tag: str, lab_dirs: tuple[Path, Path]
) -> None:
    run_dir, _ = lab_dirs
    hosts = underlay(ns_tag, family)
    a, b = hosts["a"], hosts["b"]
    states = {x: host_state(h, hosts[OTHER[x]]) for x, h in hosts.items()}
    agents = {
        x: Agent(f"host-{x}", host_netns=h.netns, run_dir=run_dir / x) for x, h in hosts.items()
    }
    for x, agent in agents.items():
        report = agent.run_once(states[x])
        assert report.converged, report.failed
        assert report.ports == {hosts[x].port: "ACTIVE"}, report.ports
        configure_guest(hosts[x])
    wa, wb = a.workload.namespace, b.workload.namespace

    wait_for("a ping from a's workload to b's", lambda: pings(wa, GUEST["b"]), timeout=30)
    assert pings(wb, GUEST["a"], count=3)
    echo = tcp_echo(wb, GUEST["b"], wa, GUEST["b"], "over-vxlan")
    assert echo.reply == "echo:over-vxlan", echo

    sniffer = Sniffer(b.netns, "ul0")
    assert pings(wa, GUEST["b"], count=3)
    frames = sniffer.stop()
    outer_ip = IPv6 if family == 6 else IP
    tunnelled = [f for f in frames if UDP in f and f[UDP].dport == 4789]
    assert tunnelled, [f.summary() for f in frames]
    for frame in tunnelled:
        assert outer_ip in frame and frame[outer_ip].src == a.endpoint, frame.summary()
        assert VXLAN in frame and frame[VXLAN].vni == VNI, frame.summary()
    echoes = [f for f in tunnelled if ICMPv6EchoRequest in f[VXLAN]]
    assert echoes and all(f[VXLAN][IPv6].src == GUEST["a"] for f in echoes)

    for x, host in hosts.items():  # by ``bridge`` itself, not the agent's in-process reader
        other = hosts[OTHER[x]]
        table = BridgeFdb().read_by_bridge(host.netns, [host.device])
        assert table == {
            host.device: {(ZERO_MAC, other.endpoint), (MAC[other.name], other.endpoint)}
        }
        again = agents[x].run_once(states[x])
        assert again.applied == [] and again.converged, again.applied
        fresh = Agent(f"host-{x}", host_netns=host.netns, run_dir=run_dir / x)
        assert fresh.run_once(states[x]).applied == []

    for x, host in hosts.items():
        flat = host_state(host, hosts[OTHER[x]], overlay=False, revision=2)
        assert agents[x].run_once(flat).converged
        assert host.device not in IpNetlink().read(host.netns).links
    assert not pings(wa, GUEST["b"], count=2)

    for x, host in hosts.items():
        assert agents[x].run_once(HostState(f"host-{x}", 3)).converged
        assert set(IpNetlink().read(host.netns).links) == {"lo", "ul0"}
