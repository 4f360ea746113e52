"""The host agent on real namespaces, radvd and dnsmasq (root only), without a server.

A hand-built HostState: one network (bridge in the test's "hypervisor" namespace ``v6h-<tag>``),
a router namespace whose ``qr-`` port carries two IPv6 prefixes announced by radvd (SLAAC), a
DHCP namespace with dnsmasq (stateful, one reservation), and a workload port whose tap the test
plugs itself (a plain namespace with a veth, as a hypervisor would). Then: SLAAC addresses and a
ping to the gateway from the "VM", a DHCPv6 lease of the reserved address, zero actions on the
same state, zero actions and the same daemon pids from a restarted agent, a SIGHUP (same pid)
for a new reservation, and nothing of ours left after the empty state.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import eui64, namespaces, wait_for
from tests.e2e.lab import usable
from tests.e2e.traffic import pings, processes_mentioning
from v6fabric.agent.actions import ReloadDaemon, WriteFile
from v6fabric.agent.host import fake_drivers
from v6fabric.agent.loop import Agent
from v6fabric.drivers.commands import pid_alive, read_pid, run
from v6fabric.drivers.iproute import IpNetlink
from v6fabric.drivers.netlink import (
    AddAddress,
    AddBridge,
    AddVeth,
    DeleteAddress,
    DeleteLink,
    DeleteRoute,
    ReplaceRoute,
    Route,
    SetLink,
)
from v6fabric.drivers.sysctl import ProcSysctls
from v6fabric.hoststate.model import (
    DhcpHost,
    DhcpOption,
    DhcpRange,
    DnsmasqSpec,
    HostState,
    NamespaceSpec,
    NetworkSpec,
    PortSpec,
    RadvdSpec,
    RaInterface,
    RaPrefix,
    WorkloadInterface,
    WorkloadSpec,
    bridge_name,
    dhcp_namespace,
    router_namespace,
    tap_name,
    workload_namespace,
)
from v6fabric.workloads import observe

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, daemons)"),
    pytest.mark.skipif(
        not all(
            shutil.which(t, path=f"{os.environ.get('PATH')}:/usr/sbin:/sbin")
            for t in ("ip", "radvd", "dnsmasq", "dhclient", "ping")
        ),
        reason="needs iproute2, radvd, dnsmasq, isc-dhcp-client and ping",
    ),
]

VM_MAC = "fa:16:3e:0c:00:10"
PREFIX_A, PREFIX_B, PREFIX_C = "2001:db8:a::/64", "2001:db8:b::/64", "2001:db8:c::/64"


class Ids:
    """Ids that start with the test's tag, so every derived name carries it."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.host_netns = f"v6h-{tag}"
        self.vm = f"t7-{tag}-vm"
        self.network = f"{tag}n1-network"
        self.router = f"{tag}r1"
        self.router_port, self.dhcp_port, self.vm_port = f"{tag}rp1", f"{tag}dp1", f"{tag}wp1"
        self.bridge = bridge_name(self.network)
        self.router_ns, self.dhcp_ns = router_namespace(self.router), dhcp_namespace(self.network)
        self.qr, self.ns_if = "qr-" + self.router_port, "ns-" + self.dhcp_port


def veth_port(ids: Ids, port_id: str, kind: str, netns: str, ifname: str, n: int) -> PortSpec:
    """Router port n=1 (gateway of prefixes A and B), DHCP port n=2 (in prefix C)."""
    addresses = ("2001:db8:a::1/64", "2001:db8:b::1/64") if n == 1 else ("2001:db8:c::2/64",)
    mac = f"fa:16:3e:0c:00:0{n}"
    return PortSpec(
        port_id, ids.network, kind, tap_name(port_id), mac, 1500, True, netns, ifname, addresses
    )


def lab_state(ids: Ids, hosts: tuple[DhcpHost, ...]) -> HostState:
    ra = RaInterface(
        ids.qr,
        managed=False,
        other=False,
        mtu=1500,
        prefixes=(RaPrefix(PREFIX_A, True), RaPrefix(PREFIX_B, True)),
        rdnss=("2001:db8:a::53",),
    )
    dhcp_range = DhcpRange("subnet-c", 6, "2001:db8:c::", 64, lease_seconds=3600)
    return HostState(
        host=f"host-{ids.tag}",
        revision=1,
        networks=(NetworkSpec(ids.network, ids.bridge, 1500),),
        ports=(
            veth_port(ids, ids.router_port, "router", ids.router_ns, ids.qr, 1),
            veth_port(ids, ids.dhcp_port, "dhcp", ids.dhcp_ns, ids.ns_if, 2),
            PortSpec(ids.vm_port, ids.network, "workload", tap_name(ids.vm_port), VM_MAC, 1500),
        ),
        namespaces=(NamespaceSpec(ids.router_ns, forwarding=True), NamespaceSpec(ids.dhcp_ns)),
        radvd=(RadvdSpec(ids.router_ns, (ra,)),),
        dnsmasq=(
            DnsmasqSpec(
                ids.dhcp_ns,
                ids.network,
                ids.ns_if,
                (dhcp_range,),
                hosts,
                (DhcpOption("subnet-c", 6, "dns-server", "[2001:db8:c::53]"),),
            ),
        ),
    )


def plug_vm(ids: Ids) -> None:
    """What a hypervisor does: the VM's NIC is a veth whose host end is the port's tap."""
    run(["ip", "netns", "add", ids.vm])
    run(["ip", "-n", ids.vm, "link", "set", "lo", "up"])
    run(
        [
            "ip",
            "-n",
            ids.host_netns,
            "link",
            "add",
            tap_name(ids.vm_port),
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ids.vm,
            "address",
            VM_MAC,
        ]
    )
    # guest sysctls before link up (per interface: dataplane.md §1); no DAD keeps the test fast
    run(
        [
            "sysctl",
            "-qw",
            "net.ipv6.conf.eth0.accept_ra=1",
            "net.ipv6.conf.eth0.accept_dad=0",
            "net.ipv6.conf.eth0.addr_gen_mode=0",
        ],
        netns=ids.vm,
    )
    run(["ip", "-n", ids.vm, "link", "set", "eth0", "up"])


def vm_addresses(ids: Ids) -> set[ipaddress.IPv6Address | ipaddress.IPv4Address]:
    """The VM's global IPv6 addresses past DAD."""
    return {i.ip for i in usable(observe(ids.vm).interfaces["eth0"].ipv6)}


def daemon_pids(run_dir: Path, ids: Ids) -> dict[str, int | None]:
    return {
        "radvd": read_pid(run_dir / "netns" / ids.router_ns / "radvd.pid"),
        "dnsmasq": read_pid(run_dir / "netns" / ids.dhcp_ns / "dnsmasq.pid"),
    }


def dhcpv6_lease(ids: Ids, test_dir: Path) -> str:
    """One DHCPv6 exchange from the VM (no address configured: the script is /bin/true)."""
    leases, pid_file = test_dir / "vm.leases", test_dir / "vm.dhclient.pid"
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ids.vm,
            "dhclient",
            "-6",
            "-1",
            "-D",
            "LL",
            "-lf",
            str(leases),
            "-pf",
            str(pid_file),
            "-sf",
            "/bin/true",
            "eth0",
        ],
        timeout=30,
        check=True,
        capture_output=True,
    )
    pid = read_pid(pid_file)
    if pid:
        os.kill(pid, signal.SIGKILL)
    return leases.read_text()


def test_agent_builds_a_working_dataplane_and_removes_it(
    ns_tag: str, lab_dirs: tuple[Path, Path]
) -> None:
    run_dir, test_dir = lab_dirs
    ids = Ids(ns_tag)
    state = lab_state(ids, (DhcpHost(VM_MAC, ("2001:db8:c::10",), "vm1"),))
    agent = Agent(state.host, host_netns=ids.host_netns, run_dir=run_dir)

    started = time.monotonic()
    report = agent.run_once(state)
    build_seconds = time.monotonic() - started
    assert report.converged, report.failed
    assert report.ports == {ids.router_port: "ACTIVE", ids.dhcp_port: "ACTIVE", ids.vm_port: "DOWN"}
    print(f"\nbuild: {len(report.applied)} actions in {build_seconds:.3f} s")

    plug_vm(ids)
    report = agent.run_once(state)
    assert report.ports[ids.vm_port] == "ACTIVE", report
    links = IpNetlink().read(ids.host_netns).links
    assert links[tap_name(ids.vm_port)].master == ids.bridge

    wanted = {eui64(PREFIX_A, VM_MAC), eui64(PREFIX_B, VM_MAC)}
    wait_for("SLAAC addresses from both prefixes", lambda: wanted <= vm_addresses(ids))
    wait_for("a ping to the gateway", lambda: pings(ids.vm, "2001:db8:a::1"))
    assert "iaaddr 2001:db8:c::10 " in dhcpv6_lease(ids, test_dir)

    pids = daemon_pids(run_dir, ids)
    assert all(pids.values()), pids
    again = agent.run_once(state)
    assert again.applied == [] and again.converged
    started = time.monotonic()
    restarted = Agent(state.host, host_netns=ids.host_netns, run_dir=run_dir).run_once(state)
    print(f"no-change resync of a fresh agent: {time.monotonic() - started:.3f} s")
    assert restarted.applied == [] and restarted.converged
    assert daemon_pids(run_dir, ids) == pids

    more = lab_state(
        ids,
        (
            DhcpHost(VM_MAC, ("2001:db8:c::10",), "vm1"),
            DhcpHost("fa:16:3e:0c:00:11", ("2001:db8:c::11",), "vm2"),
        ),
    )
    update = agent.run_once(more)
    assert {type(a) for a in update.applied} == {WriteFile, ReloadDaemon}
    assert daemon_pids(run_dir, ids) == pids and pid_alive(pids["dnsmasq"] or 0)

    teardown = agent.run_once(HostState(state.host, 2))
    assert teardown.converged, teardown.failed
    left = {n for n in namespaces() if ns_tag in n}
    assert left == {ids.host_netns, ids.vm}
    host_links = set(IpNetlink().read(ids.host_netns).links)
    assert host_links == {"lo", tap_name(ids.vm_port)}  # the VM's tap is the hypervisor's
    assert processes_mentioning(str(run_dir)) == {}  # no daemon left
    assert [p for p in run_dir.rglob("*") if p.is_file()] == []


def test_agent_plugs_a_namespace_workload_and_enslaves_its_tap(
    ns_tag: str, lab_dirs: tuple[Path, Path]
) -> None:
    """Through the workloads package, as a hypervisor: plug, enslave (ACTIVE), unplug."""
    run_dir, _ = lab_dirs
    ids = Ids(ns_tag)
    nic = WorkloadInterface(ids.vm_port, "eth0", tap_name(ids.vm_port), VM_MAC, 1500)
    workload = WorkloadSpec(f"{ns_tag}w1", "vm1", workload_namespace(f"{ns_tag}w1"), (nic,))
    port = PortSpec(ids.vm_port, ids.network, "workload", nic.tap, VM_MAC, 1500)
    network = NetworkSpec(ids.network, ids.bridge, 1500)
    state = HostState("h", 1, (network,), (port,), workloads=(workload,))
    agent = Agent("h", host_netns=ids.host_netns, run_dir=run_dir)
    report = agent.run_once(state)
    assert report.converged and report.ports == {ids.vm_port: "ACTIVE"}, report
    assert IpNetlink().read(ids.host_netns).links[nic.tap].master == ids.bridge
    assert Agent("h", host_netns=ids.host_netns, run_dir=run_dir).run_once(state).applied == []
    assert agent.run_once(HostState("h", 2)).converged
    assert workload.namespace not in namespaces()
    assert set(IpNetlink().read(ids.host_netns).links) == {"lo"}


def _view(netlink, netns: str) -> dict:
    """What both adapters must agree on (kernel link-locals and ifindexes aside)."""
    view = netlink.read(netns)
    return {
        "links": {
            name: (
                link.kind,
                link.master,
                link.mtu,
                link.up,
                tuple(a for a in link.addresses if not a.startswith("fe80:")),
            )
            for name, link in view.links.items()
        },
        "routes": set(view.routes),
    }


def test_netlink_and_sysctl_adapters_agree_with_their_fakes(
    ns_tag: str, lab_dirs: tuple[Path, Path]
) -> None:
    real, fake = IpNetlink(), fake_drivers().kernel
    a, b = f"t7-{ns_tag}-a", f"t7-{ns_tag}-b"
    steps = [
        (a, [AddBridge(a, "v6b-x", 1450)]),
        (
            a,
            [
                AddVeth(a, "tapx", 1450, "qr-x", b, "fa:16:3e:0c:00:21"),
                SetLink(a, "tapx", master="v6b-x", up=True),
                SetLink(a, "v6b-x", up=True),
            ],
        ),
        (
            b,
            [
                SetLink(b, "qr-x", up=True),
                AddAddress(b, "qr-x", "2001:db8:1::1/64"),
                AddAddress(b, "qr-x", "10.1.0.1/24"),
            ],
        ),
        (
            b,
            [
                ReplaceRoute(b, Route("2001:db8:ff::/48", "2001:db8:1::fe")),
                ReplaceRoute(b, Route("::/0", "2001:db8:1::fe")),
                ReplaceRoute(b, Route("10.9.0.0/16", "10.1.0.2")),
            ],
        ),
        (
            b,
            [
                DeleteRoute(b, Route("2001:db8:ff::/48", "2001:db8:1::fe", "qr-x")),
                DeleteAddress(b, "qr-x", "10.1.0.1/24"),
                DeleteLink(b, "gone"),
                DeleteAddress(b, "qr-x", "10.1.0.1/24"),
            ],
        ),
        (a, [AddBridge(a, "v6b-x", 1450)]),  # exists: an error both ways
        (a, [DeleteLink(a, "tapx")]),
    ]
    for adapter in (real, fake):
        assert adapter.add_namespaces([a, b]) == [None, None]
    for netns, ops in steps:
        results = [real.apply(netns, ops), fake.apply(netns, ops)]
        assert [r is None for r in results[0]] == [r is None for r in results[1]], (ops, results)
        for name in (a, b):
            assert _view(real, name) == _view(fake, name), (ops, name)
    sysctls, fake_sysctls = ProcSysctls(), fake.sysctls()
    keys = ["net.ipv6.conf.v6b-x.disable_ipv6", "net.ipv6.conf.missing.accept_ra"]
    for adapter in (sysctls, fake_sysctls):
        adapter.write(a, {"net.ipv6.conf.v6b-x.disable_ipv6": "1"})
    assert sysctls.read(a, keys) == fake_sysctls.read(a, keys) == {keys[0]: "1"}
    for adapter in (real, fake):
        adapter.delete_namespace(b)
        assert "tapx" not in adapter.read(a).links
        adapter.delete_namespace(a)
        assert not {a, b} & adapter.namespaces()
