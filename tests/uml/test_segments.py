"""GRE and VLAN networks end to end, inside the UML guest (802.1Q and GRE; this host has
neither): simulated hosts (``v6h-`` namespaces) each run ``Agent.run_once`` on the state
``compile_host`` makes for it from a snapshot built with the compiler tests' record builders,
and the agent plugs the workloads. Proved by ping6 between the workloads and by captures: GRE
(proto 47, TEB) with the network's key on the underlay, over IPv4 (gretap) and IPv6
(ip6gretap); the 802.1Q tag with the network's VLAN id on the physical link.

GRE runs on three hosts to show split horizon: a broadcast from host a's workload reaches b's
and c's exactly once each (the taps are isolated bridge ports: no frame goes from one tunnel
into another, so the full mesh has no loop).

The agents run on the real drivers except ``nftables`` (``FakeNftables``): Debian's UML kernel
has no inet/ip/ip6 nftables families, and the agent fails closed without its guards. The
firewall is proven on the host by other tests; the subject here is the segment.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import remove_tagged, wait_for
from tests.e2e.traffic import pings
from tests.uml.conftest import Capture
from tests.unit.test_compiler import network, port, snapshot, subnet, workload
from v6fabric.agent.host import real_drivers
from v6fabric.agent.loop import Agent
from v6fabric.compiler import compile_host
from v6fabric.drivers.commands import ip_batch, run
from v6fabric.drivers.iproute import IpNetlink
from v6fabric.drivers.nftables import FakeNftables
from v6fabric.hoststate.model import HostState, gre_name, vlan_name

pytestmark = pytest.mark.uml

KEY, VID, MTU = 4242, 100, 1438  # 1500 on the underlay less GRE's over IPv6 (62)
PREFIX = "2001:db8:77::"
UNDERLAY = {4: ("192.0.2.{}", 24), 6: ("fd00:77::{}", 64)}


@pytest.fixture
def lab() -> Iterator[tuple[str, Path]]:
    """(a random tag every namespace of the test has, the agents' run dir); both go after."""
    run(["modprobe", "br_netfilter"], check=False)  # the agent sets its sysctls before a load
    tag = secrets.token_hex(3)
    run_dir = Path(tempfile.mkdtemp(prefix=f"v6f-uml-{tag}-"))
    try:
        yield tag, run_dir
    finally:
        remove_tagged(tag, [run_dir])


def hostns(tag: str, x: str) -> str:
    return f"v6h-{tag}{x}"


def wire(tag: str, hosts: list[str], link: str) -> None:
    """A switch namespace (a plain bridge: it forwards 802.1Q frames as they are) with a veth
    ``link`` to each host namespace, up (the host's, not the agent's)."""
    switch = f"{tag}sw-{link}"
    ip_batch(None, [f"netns add {switch}", *(f"netns add {hostns(tag, x)}" for x in hosts)])
    ip_batch(
        switch,
        [
            "link add br0 type bridge",
            "link set br0 up",
            *(
                f"link add {link}-{x} type veth peer name {link} netns {hostns(tag, x)}"
                for x in hosts
            ),
            *(f"link set {link}-{x} master br0 up" for x in hosts),
        ],
    )
    for x in hosts:
        ip_batch(hostns(tag, x), [f"link set {link} up", "link set lo up"])


def address_underlay(tag: str, hosts: list[str], family: int) -> dict[str, str]:
    pattern, length = UNDERLAY[family]
    endpoints = {}
    for number, x in enumerate(hosts, 1):
        endpoints[f"host-{x}"] = pattern.format(number)
        nodad = " nodad" if family == 6 else ""
        ip_batch(hostns(tag, x), [f"addr add {pattern.format(number)}/{length} dev ul0{nodad}"])
    return endpoints


def world(tag: str, hosts: list[str], net: dict, **kwargs: object) -> object:
    """One network, a workload with one port on each host (no network host: no DHCP, router)."""
    sub = subnet(1, net, f"{PREFIX}/64", enable_dhcp=False, gateway_ip=None)
    ports, workloads = [], []
    for number, x in enumerate(hosts, 1):
        workload_id = f"{tag}w{x}"
        p = {**port(number, net, (sub, f"{PREFIX}{number}"), host=f"host-{x}")}
        p["device_id"] = workload_id
        ports.append(p)
        workloads.append({**workload(number, p, host=f"host-{x}"), "id": workload_id})
    return snapshot(
        networks=[net], subnets=[sub], ports=ports, workloads=workloads, network_hosts=(), **kwargs
    )


def bring_up(tag: str, run_dir: Path, hosts: list[str], snap: object, **agent_kwargs) -> dict:
    """Each host's agent converged on its compiled state; the workloads given their addresses
    (as a guest's own configuration would: no DHCP here)."""
    drivers = dataclasses.replace(real_drivers(), nftables=FakeNftables())
    agents = {}
    for number, x in enumerate(hosts, 1):
        agent = Agent(
            f"host-{x}",
            host_netns=hostns(tag, x),
            run_dir=run_dir / x,
            drivers=drivers,
            **agent_kwargs,
        )
        state = compile_host(snap, f"host-{x}")  # type: ignore[arg-type]
        report = agent.run_once(state)
        assert report.converged, report.failed
        assert set(report.ports.values()) == {"ACTIVE"}, report.ports
        ip_batch(
            f"v6w-{tag}w{x}",
            [f"link set eth0 mtu {MTU}", f"addr add {PREFIX}{number}/64 dev eth0 nodad"],
        )
        agents[x] = (agent, state)
    return agents


def tear_down(agents: dict) -> None:
    for agent, state in agents.values():
        assert agent.run_once(HostState(state.host, state.revision + 1)).converged


@pytest.mark.parametrize("family", [4, 6], ids=["gretap-ipv4", "ip6gretap-ipv6"])
def test_three_hosts_switch_a_gre_network_with_split_horizon(
    lab: tuple[str, Path], family: int
) -> None:
    tag, run_dir = lab
    hosts = ["a", "b", "c"]
    wire(tag, hosts, "ul0")
    endpoints = address_underlay(tag, hosts, family)
    net = {
        **network(1, mtu=MTU),
        "id": f"{tag}00-gre-net",
        "provider:network_type": "gre",
        "provider:segmentation_id": KEY,
    }
    agents = bring_up(tag, run_dir, hosts, world(tag, hosts, net, tunnel_endpoints=endpoints))
    b_ns = hostns(tag, "b")
    links = IpNetlink().read(b_ns).links
    taps = {gre_name(net["id"], endpoints[f"host-{x}"]) for x in ("a", "c")}
    assert {name for name in links if name.startswith("gt-")} == taps
    kind = "gretap" if family == 4 else "ip6gretap"
    assert all(links[t].kind == kind and links[t].isolated and links[t].up for t in taps)
    assert IpNetlink().read_links(b_ns, sorted(taps)) == {t: links[t] for t in taps}  # rtnetlink

    wa = f"v6w-{tag}wa"
    wait_for("a's workload pings b's", lambda: pings(wa, f"{PREFIX}2"), timeout=30)
    full = ["ping", "-6", "-c", "1", "-W", "5", "-M", "do", "-s", str(MTU - 48), f"{PREFIX}2"]
    assert run(full, netns=wa, check=False, timeout=60).returncode == 0  # a full frame fits
    capture = Capture(b_ns, "ul0", "ip proto 47" if family == 4 else "ip6", count=0)
    try:
        assert pings(wa, f"{PREFIX}3", count=2)  # c's: via the other tunnel
        assert pings(wa, f"{PREFIX}2", count=3)
        frames = capture.stop()
    finally:
        capture.close()
    gre = [f for f in frames if "GREv0" in f and f"{PREFIX}1 > {PREFIX}2: ICMP6, echo request" in f]
    assert gre, frames
    for frame in gre:
        assert f"key=0x{KEY:x}" in frame and "TEB" in frame, frame
        assert f"{endpoints['host-a']} > {endpoints['host-b']}" in frame, frame
        assert "DSTOPT" not in frame, frame  # no encapsulation limit: the MTU's overhead
    # b passed nothing on to c: what came from a's tunnel never left by another
    b_out = f"{endpoints['host-b']} > {endpoints['host-c']}"
    assert not [f for f in frames if b_out in f and f"{PREFIX}1 > " in f], frames

    # Split horizon: a broadcast (to all nodes) from a reaches b's and c's workloads once per
    # echo. Without isolated taps each host would pass the other's copy on: duplicates, a loop.
    seen = {x: Capture(f"v6w-{tag}w{x}", "eth0", "icmp6 and ip6[40] == 128", count=0) for x in "bc"}
    try:
        argv = ["ping", "-6", "-c", "3", "-i", "0.3", "-w", "10", "ff02::1%eth0"]
        said = run(argv, netns=wa, check=False, timeout=60).stdout
        for number in (2, 3):  # a unicast behind them on each tunnel: they have all arrived
            assert pings(wa, f"{PREFIX}{number}")
        got = {x: capture.stop() for x, capture in seen.items()}
    finally:
        for capture in seen.values():
            capture.close()
    sent = int(re.search(r"(\d+) packets transmitted", said).group(1))  # type: ignore[union-attr]
    assert sent >= 1, said
    for x, lines in got.items():
        requests = [line for line in lines if "ff02::1: ICMP6, echo request" in line]
        seqs = sorted(int(re.search(r"seq (\d+)", line).group(1)) for line in requests)  # type: ignore[union-attr]
        assert seqs == list(range(1, sent + 1)), (x, sent, lines)  # each once: no loop

    for x, (agent, state) in agents.items():  # a second pass changes nothing
        assert agent.run_once(state).applied == [], x
    tear_down(agents)
    assert not [n for n in IpNetlink().read(b_ns).links if n.startswith(("gt-", "v6b-"))]


def test_two_hosts_switch_a_vlan_network_tagged_on_the_physical_link(
    lab: tuple[str, Path],
) -> None:
    tag, run_dir = lab
    hosts = ["a", "b"]
    wire(tag, hosts, "eth1")
    net = {
        **network(1, mtu=MTU),
        "id": f"{tag}00-vlan-net",
        "provider:network_type": "vlan",
        "provider:physical_network": "physnet1",
        "provider:segmentation_id": VID,
    }
    mappings = [(f"host-{x}", "physnet1", "eth1") for x in hosts]
    snap = world(tag, hosts, net, physical_interfaces=mappings)
    agents = bring_up(tag, run_dir, hosts, snap, physical_networks={"physnet1": "eth1"})
    b_ns = hostns(tag, "b")
    links = IpNetlink().read(b_ns).links
    device = vlan_name(net["id"])
    assert (links[device].kind, links[device].lower, links[device].vlan_id) == ("vlan", "eth1", VID)
    assert links[device].master == f"v6b-{net['id'][:11]}" and links[device].up
    assert links["eth1"].master is None  # the interface itself stays out of the bridge
    assert IpNetlink().read_links(b_ns, [device]) == {device: links[device]}  # rtnetlink

    wa = f"v6w-{tag}wa"
    wait_for("a's workload pings b's", lambda: pings(wa, f"{PREFIX}2"), timeout=30)
    capture = Capture(f"{tag}sw-eth1", "eth1-b", f"vlan {VID} and icmp6 and ip6[40] == 128")
    try:
        assert pings(wa, f"{PREFIX}2", count=3)
        frames = capture.lines()
    finally:
        capture.close()
    assert frames, "no tagged echo request on the physical link"
    assert "ethertype 802.1Q (0x8100)" in frames[0] and f"vlan {VID}" in frames[0], frames
    assert f"{PREFIX}1 > {PREFIX}2: ICMP6, echo request" in frames[0], frames

    for x, (agent, state) in agents.items():
        assert agent.run_once(state).applied == [], x
    tear_down(agents)
    links = IpNetlink().read(b_ns).links
    assert device not in links and "eth1" in links  # ours gone, the host's interface kept
