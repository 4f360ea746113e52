"""R20 by traffic, agent level: a distributed router on two hosts (root only, no server).

Two "hosts" (``v6h-<tag>1``/``2``) on an underlay bridge (namespace ``t7-<tag>-ul``), each with
an agent given a hand-made ``HostState``: networks A and B over VXLAN on the IPv6 underlay on
both hosts, workload wA on host 1 (network A) and wB on host 2 (network B), and an instance of
router r1 on each host with legs on A and B: the same leg names, gateway addresses and shared
link-local (the EUI-64 of the ports' API MACs) on both hosts, but each host's own leg MACs
(``hoststate.dvr.host_leg_mac``), permanent neighbours for wA and wB, and the uplink guard
(``local_only``: the gateways and the shared link-locals, on the ``vx-`` uplinks). Each
instance advertises its prefixes from the shared link-local (radvd): the workloads take SLAAC
addresses and their default route from the instance on their own host.

Proved by traffic, with both underlay links sniffed throughout: wA and wB ping each other's
global address; every echo that crosses the underlay carries the sending host's leg MAC (it
was routed on the sender's host, and crossed once); no frame on the underlay carries a shared
gateway MAC or the other host's leg MAC on the wrong side, and none is neighbour discovery for,
or from, a gateway address or shared link-local; an NS for the gateway sent by wA is answered
with host 1's leg MAC (wA's neighbour entries for its gateways hold that MAC, never host 2's);
each bridge has each leg MAC only behind the port that leads to its own host.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("scapy")

from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from tests.e2e.attacks import Sniffer
from tests.e2e.conftest import eui64, wait_for
from tests.e2e.hand_made import HandMadeLab
from tests.e2e.traffic import pings
from v6fabric.agent import vrrp
from v6fabric.drivers.commands import run
from v6fabric.hoststate.dvr import host_leg_mac
from v6fabric.hoststate.firewall import FirewallNetwork, FirewallPort, FirewallSpec
from v6fabric.hoststate.model import (
    FdbEntry,
    HostState,
    NamespaceSpec,
    NeighborSpec,
    NetworkSpec,
    OverlaySpec,
    PortSpec,
    RadvdSpec,
    RaInterface,
    RaPrefix,
    WorkloadInterface,
    WorkloadSpec,
    bridge_name,
    router_namespace,
    tap_name,
    vxlan_name,
    workload_namespace,
)
from v6fabric.render._common import eui64_link_local

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("ip", "bridge", "ping", "radvd", "ndisc6", "nft")),
        reason="needs iproute2, ping, radvd, ndisc6 and nftables",
    ),
]

MTU = 1430  # VXLAN over a 1500-byte IPv6 underlay
HOSTS = ("1", "2")
ENDPOINT = {"1": "fd00:20::1", "2": "fd00:20::2"}
NETS = ("a", "b")
PREFIX = {"a": "2001:db8:20a::/64", "b": "2001:db8:20b::/64"}
GATEWAY = {"a": "2001:db8:20a::1", "b": "2001:db8:20b::1"}
API_MAC = {"a": "fa:16:3e:20:0a:01", "b": "fa:16:3e:20:0b:01"}  # the legs' ports' MACs
WORKLOAD_MAC = {"a": "fa:16:3e:20:0a:64", "b": "fa:16:3e:20:0b:64"}
WORKLOAD_HOST = {"a": "1", "b": "2"}  # wA on host 1, wB on host 2
VNI = {"a": 7201, "b": 7202}


@dataclass
class DvrLab(HandMadeLab):
    HOSTS = HOSTS
    ENDPOINT = ENDPOINT

    # --- names ---------------------------------------------------------------------------

    def network(self, net: str) -> str:
        return f"{self.tag}n{net}-net"

    def leg_port(self, net: str) -> str:
        return f"{self.tag}pr{net}-leg"

    def leg(self, net: str) -> str:
        return f"qr-{self.leg_port(net)[:11]}"

    def leg_mac(self, host: str, net: str) -> str:
        return host_leg_mac(f"host-{host}", self.leg_port(net))

    def shared_link_local(self, net: str) -> str:
        return str(eui64_link_local(API_MAC[net]))

    def router_netns(self, host: str) -> str:
        """Host's instance (``agent.vrrp.localise``: namespace names are per machine)."""
        return vrrp.ha_namespace(router_namespace(f"{self.tag}r1"), self.netns(host))

    def workload(self, net: str) -> WorkloadSpec:
        port = f"{self.tag}pw{net}-vm"
        nic = WorkloadInterface(port, "eth0", tap_name(port), WORKLOAD_MAC[net], MTU)
        workload_id = f"{self.tag}w{net}"
        return WorkloadSpec(workload_id, f"w{net}", workload_namespace(workload_id), (nic,))

    def address(self, net: str) -> str:
        return str(eui64(PREFIX[net], WORKLOAD_MAC[net]))

    # --- states ----------------------------------------------------------------------------

    def state(self, host: str) -> HostState:
        (other,) = (h for h in HOSTS if h != host)
        networks, ports, fdb, fw_nets, fw_ports, neighbors, ras = [], [], [], [], [], [], []
        namespace = router_namespace(f"{self.tag}r1")
        for zone, net in enumerate(NETS, start=1):
            net_id = self.network(net)
            vx = vxlan_name(net_id)
            overlay = OverlaySpec(vx, VNI[net], ENDPOINT[host], (ENDPOINT[other],))
            networks.append(NetworkSpec(net_id, bridge_name(net_id), MTU, overlay))
            shared = self.shared_link_local(net)
            leg = PortSpec(
                self.leg_port(net),
                net_id,
                "router",
                tap_name(self.leg_port(net)),
                self.leg_mac(host, net),
                MTU,
                namespace=namespace,
                ifname=self.leg(net),
                addresses=(f"{GATEWAY[net]}/64", f"{shared}/64"),
            )
            ports.append(leg)
            fw_ports.append(FirewallPort(leg.port_id, leg.tap, net_id, leg.mac, role="router"))
            local_only = (GATEWAY[net], shared)
            fw_nets.append(
                FirewallNetwork(net_id, bridge_name(net_id), zone, (), (vx,), local_only)
            )
            workload = self.workload(net)
            (nic,) = workload.interfaces
            if WORKLOAD_HOST[net] == host:
                ports.append(PortSpec(nic.port_id, net_id, "workload", nic.tap, nic.mac, MTU))
                fw_ports.append(
                    FirewallPort(nic.port_id, nic.tap, net_id, nic.mac, port_security=False)
                )
            else:
                fdb.append(FdbEntry(vx, nic.mac, ENDPOINT[other]))
            for address in (self.address(net), str(eui64_link_local(nic.mac))):
                neighbors.append(NeighborSpec(self.leg(net), address, nic.mac))
            prefixes = (RaPrefix(PREFIX[net], autonomous=True),)
            ras.append(RaInterface(self.leg(net), False, False, MTU, prefixes, source=shared))
        mine = [self.workload(n) for n in NETS if WORKLOAD_HOST[n] == host]
        return HostState(
            f"host-{host}",
            1,
            networks=tuple(networks),
            ports=tuple(sorted(ports, key=lambda p: p.port_id)),
            namespaces=(
                NamespaceSpec(
                    namespace,
                    forwarding=True,
                    neighbors=tuple(sorted(neighbors, key=lambda n: (n.ifname, n.address))),
                    distributed=True,
                ),
            ),
            radvd=(RadvdSpec(namespace, tuple(ras)),),
            workloads=tuple(mine),
            firewall=FirewallSpec(networks=tuple(fw_nets), ports=tuple(fw_ports)),
            fdb=tuple(sorted(fdb, key=lambda e: e.entry_id)),
        )

    # --- building --------------------------------------------------------------------------

    def build(self) -> None:
        self.build_underlay()
        for host in HOSTS:
            self.converge(host)
        for net in NETS:
            wait_for(
                f"w{net}'s SLAAC address and default route",
                lambda net=net: self._configured(net),
                timeout=90,
            )

    def _configured(self, net: str) -> bool:
        ns = self.workload(net).namespace
        addresses = run(["ip", "-6", "-o", "addr", "show", "dev", "eth0"], netns=ns).stdout
        route = run(["ip", "-6", "route", "show", "default"], netns=ns).stdout
        return self.address(net) in addresses and self.shared_link_local(net) in route

    # --- looking -----------------------------------------------------------------------------

    def neighbor_mac(self, net: str, address: str) -> str | None:
        ns = self.workload(net).namespace
        out = run(["ip", "-6", "neigh", "show", address, "dev", "eth0"], netns=ns).stdout.split()
        return out[out.index("lladdr") + 1].lower() if "lladdr" in out else None

    def fdb(self, host: str, net: str) -> dict[str, set[str]]:
        """MAC -> the bridge ports it is learnt or pinned behind, on host's bridge of net."""
        bridge = bridge_name(self.network(net))
        out = run(["bridge", "fdb", "show", "br", bridge], netns=self.netns(host)).stdout
        found: dict[str, set[str]] = {}
        for line in out.splitlines():
            words = line.split()
            if len(words) > 2 and words[1] == "dev":
                found.setdefault(words[0].lower(), set()).add(words[2])
        return found


def _inner(frames: list[Ether]) -> list[Ether]:
    return [frame[VXLAN].payload for frame in frames if VXLAN in frame]


def _nd_about(frame: Ether, addresses: set[str]) -> bool:
    """Neighbour discovery for, or sent from, one of ``addresses``."""
    if IPv6 not in frame:
        return False
    for kind in (ICMPv6ND_NS, ICMPv6ND_NA):
        if kind in frame and frame[kind].tgt in addresses:
            return True
    return (
        frame[IPv6].src in addresses
        and frame[IPv6].nh == 58
        and frame[IPv6].payload.type
        in (
            133,
            134,
            135,
            136,
            137,
        )
    )


def test_a_distributed_router_routes_on_each_senders_host_and_keeps_its_gateway_local(
    ns_tag: str, lab_dirs: tuple[Path, Path]
) -> None:
    run_dir, _ = lab_dirs
    lab = DvrLab(ns_tag, run_dir)
    lab.build()
    wa, wb = lab.workload("a").namespace, lab.workload("b").namespace
    sniffers = {host: Sniffer(lab.netns(host), "ul0") for host in HOSTS}
    try:
        assert wait_for("wA to reach wB", lambda: pings(wa, lab.address("b")), 30)
        assert pings(wa, lab.address("b"), count=3)
        assert pings(wb, lab.address("a"), count=3)
        # wA asks for its gateway (a multicast NS, flooded onto the overlay but for the guard)
        answer = run(["ndisc6", "-1", "-n", "-r", "3", GATEWAY["a"], "eth0"], netns=wa).stdout
    finally:
        arrived = {host: _inner(sniffer.stop()) for host, sniffer in sniffers.items()}
    leg_mac = {(h, n): lab.leg_mac(h, n) for h in HOSTS for n in NETS}
    assert leg_mac[("1", "a")].lower() in answer.lower(), answer
    for address in (GATEWAY["a"], lab.shared_link_local("a")):
        assert lab.neighbor_mac("a", address) in (None, leg_mac[("1", "a")]), address
    assert lab.neighbor_mac("a", lab.shared_link_local("a")) == leg_mac[("1", "a")]

    # Each echo crossed the underlay once, from the sender's host leg MAC to the workload.
    to_host2, to_host1 = arrived["2"], arrived["1"]
    requests = [f for f in to_host2 if ICMPv6EchoRequest in f and f[IPv6].dst == lab.address("b")]
    replies = [f for f in to_host1 if ICMPv6EchoReply in f and f[IPv6].dst == lab.address("a")]
    assert requests and replies, "the echoes did not cross the underlay: the capture proves nothing"
    print(f"\nunderlay: {len(to_host2)} frames to host 2, {len(to_host1)} to host 1; {answer}")
    assert {(f.src, f.dst) for f in requests} == {(leg_mac[("1", "b")], WORKLOAD_MAC["b"])}
    assert {(f.src, f.dst) for f in replies} == {(leg_mac[("2", "a")], WORKLOAD_MAC["a"])}
    echoes_back = [
        f for f in to_host1 if ICMPv6EchoRequest in f and f[IPv6].dst == lab.address("a")
    ]
    assert {(f.src, f.dst) for f in echoes_back} == {(leg_mac[("2", "a")], WORKLOAD_MAC["a"])}

    # Nothing on the underlay carries a shared MAC or is ND for or from a gateway address.
    local_only = {GATEWAY[n] for n in NETS} | {lab.shared_link_local(n) for n in NETS}
    shared_macs = set(API_MAC.values())
    for host, frames in arrived.items():
        assert not [f for f in frames if {f.src, f.dst} & shared_macs], host
        assert not [f.summary() for f in frames if _nd_about(f, local_only)], host
        # what arrives at host from the other only ever carries the other's leg MACs
        assert not [f for f in frames if f.src in {leg_mac[(host, n)] for n in NETS}], host

    # Each bridge has each leg MAC only behind the port to its own host.
    for host in HOSTS:
        for net in NETS:
            table = lab.fdb(host, net)
            for owner in HOSTS:
                behind = table.get(leg_mac[(owner, net)], set())
                expected = (
                    {tap_name(lab.leg_port(net))}
                    if owner == host
                    else {vxlan_name(lab.network(net))}
                )
                assert behind <= expected, (host, net, owner, behind)
            assert not (set(table) & shared_macs), (host, net)
        assert table.get(leg_mac[(host, "b")]) == {tap_name(lab.leg_port("b"))}
