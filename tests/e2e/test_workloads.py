"""Namespace workloads against real radvd, dnsmasq and dhclient (root only).

Each test builds its own lab with a random tag: a "hypervisor" namespace ``v6h-t<tag>`` with
Linux bridges, a router namespace ``t6-<tag>-r`` (veths into the bridges, forwarding on, radvd
and dnsmasq started by hand), and workloads ``v6w-t<tag>-<n>`` plugged as the host agent would.
Nothing in the root namespace is touched; everything is removed afterwards.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.e2e import conftest
from tests.e2e.conftest import eui64, remove_tagged
from tests.e2e.lab import default_routers
from tests.e2e.traffic import dnsmasq_argv, pings, processes_mentioning
from v6fabric.drivers.commands import run, spawn
from v6fabric.hoststate.model import WorkloadInterface, WorkloadSpec
from v6fabric.workloads import GuestView, observe, plug, plugged, unplug
from v6fabric.workloads.paths import WorkloadPaths
from v6fabric.workloads.plumbing import GUEST_NICE

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, daemons)"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("ip", "radvd", "dnsmasq", "dhclient", "ping")),
        reason="needs iproute2, radvd, dnsmasq, isc-dhcp-client and ping",
    ),
]

T = TypeVar("T")
TIMEOUT = 10.0


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
    return conftest.wait_for(what, probe, timeout)


class Lab:
    """A hypervisor namespace with bridges, a router namespace, daemons and workloads."""

    def __init__(self, run_dir: Path) -> None:
        self.tag = secrets.token_hex(3)
        self.host = f"v6h-t{self.tag}"
        self.router = f"t6-{self.tag}-r"
        self.run_dir = run_dir
        self.daemons: list[subprocess.Popen[bytes]] = []
        self.workloads: list[str] = []
        self._links = 0

    # --- topology ---------------------------------------------------------------------------
    def start(self) -> None:
        for ns in (self.host, self.router):
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Bridges and bridge ports must not autoconfigure IPv6 (RS, DAD, MLD into the network).
        run(["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"], netns=self.host)
        run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], netns=self.router)
        run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], netns=self.router)

    def bridge(self, name: str) -> str:
        run(["ip", "-n", self.host, "link", "add", name, "type", "bridge",
             "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"])  # fmt: skip
        run(["ip", "-n", self.host, "link", "set", name, "up"])
        return name

    def router_port(self, bridge: str, ifname: str, mac: str, *addresses: str) -> None:
        """A router leg: veth from the bridge into the router namespace, addresses without DAD
        (so radvd/dnsmasq answer the first RS), as in dataplane.md 1 and 3."""
        self._links += 1
        port = f"rp{self.tag}{self._links}"
        run(["ip", "-n", self.host, "link", "add", port, "type", "veth",
             "peer", "name", ifname, "netns", self.router, "address", mac])  # fmt: skip
        run(["ip", "-n", self.host, "link", "set", port, "master", bridge, "up"])
        run(["sysctl", "-qw", f"net.ipv6.conf.{ifname}.accept_dad=0"], netns=self.router)
        for address in addresses:
            extra = ["nodad"] if ":" in address else []
            run(["ip", "-n", self.router, "addr", "add", address, "dev", ifname, *extra])
        run(["ip", "-n", self.router, "link", "set", ifname, "up"])

    # --- daemons ----------------------------------------------------------------------------
    def radvd(self, config: str) -> None:
        name = f"radvd{len(self.daemons)}"
        conf = self.run_dir / f"{name}.conf"
        conf.write_text(config)
        self.daemons.append(
            spawn(
                ["radvd", "-n", "-C", str(conf), "-p", str(self.run_dir / f"{name}.pid"),
                 "-m", "logfile", "-l", str(self.run_dir / f"{name}.log")],
                netns=self.router,
            )
        )  # fmt: skip

    def dnsmasq(self, ifname: str, *options: str) -> None:
        argv = dnsmasq_argv(ifname, self.run_dir, f"dnsmasq{len(self.daemons)}", *options)
        self.daemons.append(spawn(argv, netns=self.router))

    # --- workloads --------------------------------------------------------------------------
    def workload(self, *nics: tuple[str, str]) -> WorkloadSpec:
        """Plug a workload with one NIC per (bridge, mac) and attach its taps as the agent does."""
        index = len(self.workloads)
        namespace = f"v6w-t{self.tag}-{index}"
        interfaces = tuple(
            WorkloadInterface(
                port_id=f"port-{self.tag}-{index}-{n}",
                ifname=f"eth{n}",
                tap=f"tap{self.tag}{index}{n}",
                mac=mac,
                mtu=1500,
            )
            for n, (_bridge, mac) in enumerate(nics)
        )
        spec = WorkloadSpec(f"wl-{self.tag}-{index}", f"vm{index}", namespace, interfaces)
        self.workloads.append(namespace)
        plug(spec, host_netns=self.host, run_dir=self.run_dir)
        for iface in interfaces:  # the hypervisor side is left to the agent: down, no master
            (tap,) = json.loads(
                run(["ip", "-n", self.host, "-json", "link", "show", iface.tap]).stdout
            )
            assert "UP" not in tap["flags"] and "master" not in tap, tap
        for iface, (bridge, _mac) in zip(interfaces, nics, strict=True):
            run(["ip", "-n", self.host, "link", "set", iface.tap, "master", bridge, "up"])
        return spec

    def observe(self, namespace: str) -> GuestView:
        return observe(namespace, run_dir=self.run_dir)

    # --- teardown ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Tear everything down, each step even if an earlier one failed; then raise what
        failed, so that a broken unplug fails the test rather than leaking."""
        failed: list[str] = []
        for namespace in self.workloads:
            kept = WorkloadPaths.of(self.run_dir, namespace).root
            if kept.is_dir():  # a copy for post-mortems (pytest keeps the last tmp_paths)
                shutil.copytree(
                    kept, self.run_dir / f"kept-{namespace}", ignore_dangling_symlinks=True
                )
            try:
                unplug(namespace, run_dir=self.run_dir)
            except Exception as exc:  # keep tearing down; raised below
                failed.append(f"unplug {namespace}: {exc!r}")
        for proc in self.daemons:
            # radvd's privsep helper is left a zombie for PID 1 to reap: waited for per module.
            ORPHANS.extend(_children(proc.pid))
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        try:
            remove_tagged(self.tag, [])  # the router and host namespaces, and any leftover
        except AssertionError as exc:
            failed.append(str(exc))
        if failed:
            raise AssertionError("teardown failed:\n" + "\n".join(failed))


def _children(pid: int) -> list[int]:
    try:
        return [int(w) for w in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


ORPHANS: list[int] = []


@pytest.fixture(scope="module", autouse=True)
def _orphans_reaped() -> Iterator[None]:
    """Wait (once per module) until the daemons' orphaned helpers have been reaped."""
    yield
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in ORPHANS) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


def slaac_radvd(ifname: str, prefix: str, *, managed: bool = False, other: bool = False,
                autonomous: bool = True, rdnss: str | None = None, dnssl: str | None = None) -> str:  # fmt: skip
    def flag(value: bool) -> str:
        return "on" if value else "off"

    lines = [
        f"interface {ifname} {{",
        "  AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 10;",
        f"  AdvManagedFlag {flag(managed)}; AdvOtherConfigFlag {flag(other)};",
        "  AdvRASolicitedUnicast on; AdvLinkMTU 1500;",
        f"  prefix {prefix} {{ AdvOnLink on; AdvAutonomous {flag(autonomous)}; }};",
    ]
    if rdnss:
        lines.append(f"  RDNSS {rdnss} {{ }};")
    if dnssl:
        lines.append(f"  DNSSL {dnssl} {{ }};")
    return "\n".join([*lines, "};", ""])


def v6_addresses(view: GuestView, ifname: str) -> set[str]:
    iface = view.interfaces.get(ifname)
    return {str(a.interface) for a in iface.ipv6} if iface else set()


def defaults(view: GuestView, ifname: str, version: int = 6) -> set[str]:
    return default_routers(view.interfaces.get(ifname), version)


# --- (1) SLAAC -------------------------------------------------------------------------------


def test_slaac_address_default_route_and_rdnss(lab: Lab) -> None:
    br = lab.bridge(f"b{lab.tag}1")
    lab.router_port(br, "qr0", "fa:16:3e:aa:00:fe", "2001:db8:a1::1/64")
    lab.radvd(slaac_radvd("qr0", "2001:db8:a1::/64", rdnss="2001:db8:a1::53", dnssl="a1.test"))
    mac = "fa:16:3e:a1:00:01"
    start = time.monotonic()
    spec = lab.workload((br, mac))
    ns = spec.namespace
    expected = f"{eui64('2001:db8:a1::/64', mac)}/64"

    wait_for("the SLAAC address", lambda: expected in v6_addresses(lab.observe(ns), "eth0"))
    took = time.monotonic() - start
    router_ll = str(eui64("fe80::/64", "fa:16:3e:aa:00:fe"))
    view = wait_for(
        "the default route", lambda: (v := lab.observe(ns)) and defaults(v, "eth0") and v
    )
    eth0 = view.interfaces["eth0"]
    assert defaults(view, "eth0") == {router_ll}
    assert ipaddress.ip_network("2001:db8:a1::/64") in eth0.onlink_prefixes
    assert v6_addresses(view, "eth0") == {expected}  # no temporary or DHCPv6 addresses
    assert eth0.mac == mac and eth0.mtu == 1500
    assert {str(a.interface) for a in eth0.link_local} == {f"{eui64('fe80::/64', mac)}/64"}
    view = wait_for(
        "RDNSS/DNSSL in resolv.conf", lambda: (v := lab.observe(ns)) and v.nameservers and v
    )
    assert view.nameservers == (ipaddress.ip_address("2001:db8:a1::53"),)
    assert view.search == ("a1.test",)
    assert view.interfaces["eth0"].dhcpv6 is None  # M=0, O=0: no DHCPv6 client
    assert view.guest_running
    assert wait_for("ping6 to the router", lambda: pings(ns, "2001:db8:a1::1"))
    print(f"SLAAC address after {took:.2f}s")
    assert ns in plugged()


# --- (2) DHCPv6 stateful with a MAC reservation ----------------------------------------------


def test_dhcpv6_stateful_reservation(lab: Lab) -> None:
    br = lab.bridge(f"b{lab.tag}2")
    lab.router_port(br, "qr0", "fa:16:3e:aa:00:fe", "2001:db8:b2::1/64")
    lab.radvd(slaac_radvd("qr0", "2001:db8:b2::/64", managed=True, other=True, autonomous=False))
    mac = "fa:16:3e:b2:00:01"
    lab.dnsmasq(
        "qr0",
        "--dhcp-range=2001:db8:b2::100,2001:db8:b2::1ff,64,1h",
        f"--dhcp-host={mac},[2001:db8:b2::42],vm0",
        "--dhcp-option=option6:dns-server,[2001:db8:b2::53]",
        "--dhcp-option=option6:domain-search,b2.test",
    )
    start = time.monotonic()
    spec = lab.workload((br, mac))
    ns = spec.namespace

    view = wait_for(
        "the reserved address", lambda: (v := lab.observe(ns)) and v6_addresses(v, "eth0") and v
    )
    took = time.monotonic() - start
    assert v6_addresses(view, "eth0") == {"2001:db8:b2::42/128"}  # exactly the reservation
    eth0 = view.interfaces["eth0"]
    assert "nodad" in eth0.ipv6[0].flags
    assert eth0.onlink_prefixes == (ipaddress.ip_network("2001:db8:b2::/64"),)  # from RA, L=1 A=0
    assert defaults(view, "eth0") == {str(eui64("fe80::/64", "fa:16:3e:aa:00:fe"))}
    assert eth0.ra_managed is True and eth0.dhcpv6 == "stateful"
    # The guest and the DHCP client it started yield the CPU to the host's control plane.
    pid_files = WorkloadPaths.of(lab.run_dir, ns).pid_files()
    assert len(pid_files) >= 2, pid_files  # guest.pid and the dhclient's
    for pid_file in pid_files:
        assert os.getpriority(os.PRIO_PROCESS, int(pid_file.read_text())) == GUEST_NICE
    view = wait_for(
        "DHCPv6 DNS in resolv.conf", lambda: (v := lab.observe(ns)) and v.nameservers and v
    )
    assert view.nameservers == (ipaddress.ip_address("2001:db8:b2::53"),)  # RA had no RDNSS
    assert view.search == ("b2.test",)
    assert wait_for("ping6 to the router", lambda: pings(ns, "2001:db8:b2::1"))
    print(f"DHCPv6 stateful address after {took:.2f}s")


# --- (3) stateless: SLAAC + DHCPv6 information request ---------------------------------------


def test_dhcpv6_stateless(lab: Lab) -> None:
    br = lab.bridge(f"b{lab.tag}3")
    lab.router_port(br, "qr0", "fa:16:3e:aa:00:fe", "2001:db8:c3::1/64")
    lab.radvd(slaac_radvd("qr0", "2001:db8:c3::/64", other=True))
    lab.dnsmasq(
        "qr0",
        "--dhcp-range=2001:db8:c3::,static,64",
        "--dhcp-option=option6:dns-server,[2001:db8:c3::53]",
        "--dhcp-option=option6:domain-search,c3.test",
    )
    mac = "fa:16:3e:c3:00:01"
    spec = lab.workload((br, mac))
    ns = spec.namespace
    expected = f"{eui64('2001:db8:c3::/64', mac)}/64"

    view = wait_for(
        "DNS from DHCPv6",
        lambda: (v := lab.observe(ns)) and v.nameservers and v.interfaces["eth0"].dhcpv6 and v,
    )
    assert view.nameservers == (ipaddress.ip_address("2001:db8:c3::53"),)
    assert view.search == ("c3.test",)
    assert v6_addresses(view, "eth0") == {expected}  # SLAAC only: no IA_NA address
    eth0 = view.interfaces["eth0"]
    assert eth0.ra_managed is False and eth0.ra_other is True and eth0.dhcpv6 == "stateless"
    assert wait_for("ping6 to the router", lambda: pings(ns, "2001:db8:c3::1"))


# --- (4) two interfaces on two bridges (the second dual stack, RA by dnsmasq) ----------------


def test_two_interfaces_two_networks(lab: Lab) -> None:
    br1, br2 = lab.bridge(f"b{lab.tag}41"), lab.bridge(f"b{lab.tag}42")
    lab.router_port(br1, "qr1", "fa:16:3e:aa:01:fe", "2001:db8:d1::1/64")
    lab.router_port(br2, "qr2", "fa:16:3e:aa:02:fe", "2001:db8:d2::1/64", "10.42.0.1/24")
    lab.radvd(slaac_radvd("qr1", "2001:db8:d1::/64", rdnss="2001:db8:d1::53", dnssl="d1.test"))
    mac1, mac2 = "fa:16:3e:d1:00:01", "fa:16:3e:d2:00:01"
    lab.dnsmasq(
        "qr2",
        "--enable-ra",
        "--ra-param=qr2,10,600",
        "--dhcp-range=2001:db8:d2::100,2001:db8:d2::1ff,64,1h",
        f"--dhcp-host={mac2},[2001:db8:d2::42]",
        "--dhcp-range=10.42.0.100,10.42.0.200,255.255.255.0,1h",
        f"--dhcp-host={mac2},10.42.0.42",
        "--dhcp-option=option6:dns-server,[2001:db8:d2::53]",
        "--dhcp-option=option:dns-server,10.42.0.53",
        "--dhcp-option=option:domain-search,d2.test",
    )
    spec = lab.workload((br1, mac1), (br2, mac2))
    ns = spec.namespace
    slaac = f"{eui64('2001:db8:d1::/64', mac1)}/64"

    def complete() -> GuestView | None:
        v = lab.observe(ns)
        eth1 = v.interfaces.get("eth1")
        ok = (
            slaac in v6_addresses(v, "eth0")
            and "2001:db8:d2::42/128" in v6_addresses(v, "eth1")
            and eth1 is not None
            and {str(a.interface) for a in eth1.ipv4} == {"10.42.0.42/24"}
            and len(v.nameservers) >= 3
        )
        return v if ok else None

    view = wait_for("both interfaces configured", complete)
    eth0, eth1 = view.interfaces["eth0"], view.interfaces["eth1"]
    assert v6_addresses(view, "eth0") == {slaac}
    assert v6_addresses(view, "eth1") == {"2001:db8:d2::42/128"}
    assert eth0.mac == mac1 and eth1.mac == mac2
    assert defaults(view, "eth0") == {str(eui64("fe80::/64", "fa:16:3e:aa:01:fe"))}
    assert defaults(view, "eth1") == {str(eui64("fe80::/64", "fa:16:3e:aa:02:fe"))}
    assert defaults(view, "eth1", 4) == {"10.42.0.1"}
    assert ipaddress.ip_network("2001:db8:d1::/64") in eth0.onlink_prefixes
    assert ipaddress.ip_network("2001:db8:d2::/64") in eth1.onlink_prefixes
    assert ipaddress.ip_network("10.42.0.0/24") in eth1.onlink_prefixes
    assert eth0.dhcpv6 is None and eth1.dhcpv6 == "stateful"
    servers = set(view.nameservers)
    assert {
        ipaddress.ip_address(a) for a in ("2001:db8:d1::53", "2001:db8:d2::53", "10.42.0.53")
    } <= servers
    assert {"d1.test", "d2.test"} <= set(view.search)
    for address in ("2001:db8:d1::1", "2001:db8:d2::1", "10.42.0.1"):
        assert wait_for(f"ping to {address}", lambda a=address: pings(ns, a))


# --- (5) unplug removes everything -----------------------------------------------------------


def test_unplug_removes_everything(lab: Lab) -> None:
    br = lab.bridge(f"b{lab.tag}5")
    lab.router_port(br, "qr0", "fa:16:3e:aa:00:fe", "2001:db8:e5::1/64")
    lab.radvd(slaac_radvd("qr0", "2001:db8:e5::/64", managed=True, autonomous=False))
    mac = "fa:16:3e:e5:00:01"
    lab.dnsmasq(
        "qr0",
        "--dhcp-range=2001:db8:e5::100,2001:db8:e5::1ff,64,1h",
        f"--dhcp-host={mac},[2001:db8:e5::42]",
    )
    spec = lab.workload((br, mac))
    ns = spec.namespace
    wait_for(
        "the DHCPv6 address", lambda: "2001:db8:e5::42/128" in v6_addresses(lab.observe(ns), "eth0")
    )
    paths = WorkloadPaths.of(lab.run_dir, ns)
    before = set(processes_mentioning(ns))
    assert len(before) >= 3  # the guest agent, dhclient -6 and dhclient -4
    plug(spec, host_netns=lab.host, run_dir=lab.run_dir)  # idempotent: nothing restarted
    assert set(processes_mentioning(ns)) == before
    assert wait_for(
        "the address still there",
        lambda: "2001:db8:e5::42/128" in v6_addresses(lab.observe(ns), "eth0"),
    )

    unplug(ns, run_dir=lab.run_dir)
    assert ns not in plugged()
    assert processes_mentioning(ns) == {}
    assert not paths.root.exists()
    host_links = run(["ip", "-n", lab.host, "-o", "link", "show"]).stdout
    assert spec.interfaces[0].tap not in host_links
    unplug(ns, run_dir=lab.run_dir)  # idempotent
