"""The rendered files in the real daemons, inside throwaway network namespaces (root only).

``radvd -c`` and ``dnsmasq --test`` check syntax only: radvd checks its timers only on a live
interface, and dnsmasq reads the hosts and options files only when it runs. So each case starts
the daemon for real on a veth pair inside a namespace ``t6-render-<random>`` and looks at what
it says and sends: the RA as ``rdisc6`` sees it, the DHCP replies as ``dhclient`` records them.
Nothing outside those namespaces is touched; everything in them is killed and deleted after.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.golden.cases import DNSMASQ, RADVD, dnsmasq_paths
from v6fabric.hoststate.model import DnsmasqSpec, RadvdSpec, RaInterface
from v6fabric.render import (
    render_dnsmasq_conf,
    render_dnsmasq_hosts,
    render_dnsmasq_opts,
    render_radvd,
)

RADVD_BIN = "/usr/sbin/radvd"
DNSMASQ_BIN = "/usr/sbin/dnsmasq"
CLIENT_IF = "cl0"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]


@dataclass
class Namespace:
    name: str
    run_dir: Path

    def run(self, *args: str, timeout: float = 15) -> str:
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return result.stdout

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        # ip netns exec execs the command, so the Popen's pid is the daemon's.
        return subprocess.Popen(
            ["ip", "netns", "exec", self.name, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def veth(self, ifname: str, peer: str, *, mtu: int = 1500) -> None:
        link = ["ip", "-n", self.name, "link", "add", ifname, "mtu", str(mtu), "type", "veth"]
        subprocess.run([*link, "peer", "name", peer, "mtu", str(mtu)], check=True)
        for name in (ifname, peer):  # link-locals usable at once: no DAD in a test
            self.run("sysctl", "-qw", f"net.ipv6.conf.{name}.accept_dad=0")
            subprocess.run(["ip", "-n", self.name, "link", "set", name, "up"], check=True)

    def set_mac(self, ifname: str, mac: str) -> None:
        for step in (["down"], ["address", mac], ["up"]):
            subprocess.run(["ip", "-n", self.name, "link", "set", ifname, *step], check=True)

    def address(self, ifname: str, cidr: str) -> None:
        nodad = ["nodad"] if ipaddress.ip_interface(cidr).version == 6 else []
        subprocess.run(
            ["ip", "-n", self.name, "addr", "add", cidr, "dev", ifname, *nodad], check=True
        )


@pytest.fixture
def netns() -> Iterator[Namespace]:
    name = f"t6-render-{secrets.token_hex(4)}"
    # Not tmp_path: dnsmasq re-reads its files as "nobody", and pytest's base dir is 0700.
    run_dir = Path(tempfile.mkdtemp(prefix="t6-render-"))
    run_dir.chmod(0o755)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield Namespace(name, run_dir)
    finally:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
        for pid in pids.stdout.split():  # only what this test started in its own namespace
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(run_dir, ignore_errors=True)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


# radvd


def _parse_rdisc6(text: str) -> dict[str, object]:
    """The fields of one RA as rdisc6 prints them."""
    ra: dict[str, object] = {"prefixes": {}, "routes": {}, "rdnss": [], "dnssl": []}
    current: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "Prefix":
            current = ra["prefixes"].setdefault(value, {})  # type: ignore[union-attr]
        elif key == "Route":
            current = ra["routes"].setdefault(value, {})  # type: ignore[union-attr]
        elif key == "Recursive DNS server":
            ra["rdnss"].append(value)  # type: ignore[union-attr]
        elif key == "DNS search list":
            ra["dnssl"] = value.split()
        elif key in ("On-link", "Autonomous address conf.", "Route preference"):
            current[key] = value
        elif key in ("Stateful address conf.", "Stateful other conf.", "MTU"):
            ra[key] = value.split()[0]
        elif key in ("DNS server lifetime", "DNS servers lifetime"):  # rdisc6: 1 or more
            ra["DNS servers lifetime"] = int(value.split()[0])
        elif key in ("Router lifetime", "DNS search list lifetime"):
            ra[key] = int(value.split()[0])
    return ra


def _expected_ra(iface: RaInterface) -> dict[str, object]:
    yes_no = {True: "Yes", False: "No"}
    expected: dict[str, object] = {
        "prefixes": {
            p.cidr: {"On-link": yes_no[p.on_link], "Autonomous address conf.": yes_no[p.autonomous]}
            for p in iface.prefixes
        },
        "routes": {r.cidr: {"Route preference": r.preference} for r in iface.routes},
        "rdnss": list(iface.rdnss),
        "dnssl": list(iface.dnssl),
        "Stateful address conf.": yes_no[iface.managed],
        "Stateful other conf.": yes_no[iface.other],
        "Router lifetime": (
            3 * iface.max_interval if iface.default_lifetime is None else iface.default_lifetime
        ),
    }
    if iface.mtu >= 1280:
        expected["MTU"] = str(iface.mtu)
    if iface.rdnss:
        expected["DNS servers lifetime"] = 2 * iface.max_interval
    if iface.dnssl:
        expected["DNS search list lifetime"] = 2 * iface.max_interval
    return expected


@pytest.mark.skipif(not os.path.exists(RADVD_BIN), reason="radvd is not installed")
@pytest.mark.skipif(shutil.which("rdisc6") is None, reason="rdisc6 (ndisc6) is not installed")
@pytest.mark.parametrize("name", sorted(RADVD))
def test_radvd_advertises_the_spec(name: str, netns: Namespace) -> None:
    spec: RadvdSpec = RADVD[name]
    netns.run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    for index, iface in enumerate(spec.interfaces):
        # The link's MTU first: radvd ignores an interface whose AdvLinkMTU exceeds it.
        netns.veth(iface.ifname, f"{CLIENT_IF}{index}", mtu=max(iface.mtu, 1280))
        if iface.source is not None:  # the port's MAC, and the metadata address beside
            netns.set_mac(iface.ifname, _eui64_mac(iface.source))
            netns.address(iface.ifname, "fe80::a9fe:a9fe/64")
    conf, log = netns.run_dir / "radvd.conf", netns.run_dir / "radvd.log"
    conf.write_text(render_radvd(spec))
    radvd = netns.start(
        RADVD_BIN, "-n", "-C", str(conf), "-p", str(netns.run_dir / "radvd.pid"),
        "-m", "logfile", "-l", str(log),
    )  # fmt: skip
    try:
        _wait_for(lambda: "started" in _read(log), 5, "radvd to start")
        for index, iface in enumerate(spec.interfaces):
            # Solicited, answered at once by unicast (AdvRASolicitedUnicast).
            out = netns.run("rdisc6", "-1", "-w", "1000", f"{CLIENT_IF}{index}")
            assert _parse_rdisc6(out) == _expected_ra(iface), iface.ifname
            if iface.source is not None:  # sent from the port's own link-local
                assert f"from {iface.source}" in out, out
        assert radvd.poll() is None, _read(log)
        assert not re.search(r"warn|error|fail", _read(log), re.IGNORECASE), _read(log)
    finally:
        _stop(radvd)


def _eui64_mac(link_local: str) -> str:
    """The MAC whose EUI-64 link-local is ``link_local``."""
    raw = bytearray(ipaddress.IPv6Address(link_local).packed[8:])
    mac = bytes([raw[0] ^ 0x02, raw[1], raw[2], raw[5], raw[6], raw[7]])
    return ":".join(f"{b:02x}" for b in mac)


# dnsmasq


def _server_addresses(spec: DnsmasqSpec) -> list[str]:
    """One address of the DHCP port per subnet (dnsmasq serves a range only on such a link)."""
    cidrs = []
    for dhcp_range in spec.ranges:
        network = ipaddress.ip_network(f"{dhcp_range.network}/{dhcp_range.prefixlen}")
        cidrs.append(f"{network.network_address + 2}/{network.prefixlen}")
    return cidrs


@dataclass
class Dnsmasq:
    netns: Namespace
    process: subprocess.Popen[bytes]
    paths: dict[str, str | None]

    def log(self) -> str:
        return _read(Path(str(self.paths["log_file"])))

    def client(self, mac: str, *args: str, until: Callable[[str], bool]) -> str:
        """Run dhclient on the client end with ``mac`` until what it learnt satisfies ``until``.

        What it learnt: its lease file, then the environment its script was called with (an
        Information-Request leaves no lease file). The script only records; nothing outside the
        namespace is changed (no resolv.conf).
        """
        self.netns.set_mac(CLIENT_IF, mac)
        base = self.netns.run_dir / f"client-{mac.replace(':', '')}{''.join(args)}"
        leases, env = Path(f"{base}.leases"), Path(f"{base}.env")
        script = Path(f"{base}.sh")
        script.write_text(f'#!/bin/sh\nenv >> "{env}"\n')
        script.chmod(0o755)
        dhclient = self.netns.start(
            "dhclient", *args, "-d", "-1", "-lf", str(leases), "-pf", f"{base}.pid",
            "-sf", str(script), CLIENT_IF,
        )  # fmt: skip
        learnt = lambda: _read(leases) + _read(env)  # noqa: E731
        try:
            _wait_for(lambda: until(learnt()), 15, f"dhclient {args} for {mac}")
        finally:
            _stop(dhclient)
        return learnt()


@pytest.fixture
def dnsmasq(netns: Namespace) -> Iterator[Callable[[DnsmasqSpec], Dnsmasq]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(spec: DnsmasqSpec) -> Dnsmasq:
        netns.veth(spec.interface, CLIENT_IF)
        for cidr in _server_addresses(spec):
            netns.address(spec.interface, cidr)
        paths = dnsmasq_paths(str(netns.run_dir), spec.network_id)
        Path(str(paths["pid_file"])).parent.mkdir(mode=0o755)
        conf = netns.run_dir / "dnsmasq.conf"
        conf.write_text(render_dnsmasq_conf(spec, **paths))  # files 0644: dnsmasq runs as nobody
        Path(str(paths["hosts_file"])).write_text(render_dnsmasq_hosts(spec))
        Path(str(paths["opts_file"])).write_text(render_dnsmasq_opts(spec))
        process = netns.start(DNSMASQ_BIN, f"--conf-file={conf}", "--keep-in-foreground")
        started.append(process)
        server = Dnsmasq(netns, process, paths)
        _wait_for(lambda: f"read {paths['opts_file']}" in server.log(), 5, "dnsmasq to start")
        return server

    try:
        yield start
    finally:
        for process in started:
            _stop(process)


@pytest.mark.skipif(not os.path.exists(DNSMASQ_BIN), reason="dnsmasq is not installed")
@pytest.mark.parametrize("name", sorted(DNSMASQ))
def test_dnsmasq_runs_with_the_rendered_files(
    name: str, dnsmasq: Callable[[DnsmasqSpec], Dnsmasq]
) -> None:
    spec = DNSMASQ[name]
    server = dnsmasq(spec)
    time.sleep(1)
    assert server.process.poll() is None, server.log()
    for dhcp_range in spec.ranges:
        family = "DHCPv6" if dhcp_range.ip_version == 6 else "DHCP"
        assert f"{family}, static leases only on {dhcp_range.network}," in server.log()
    assert "enable-ra" not in server.log() and "router advertisement" not in server.log()
    # Port changes are a SIGHUP: both files are read again, without complaint.
    server.process.send_signal(signal.SIGHUP)
    _wait_for(lambda: server.log().count(f"read {server.paths['opts_file']}") == 2, 5, "SIGHUP")
    assert server.process.poll() is None, server.log()
    assert server.log().count(f"read {server.paths['hosts_file']}") == 2
    assert not re.search(r"bad |cannot|failed|error", server.log(), re.IGNORECASE), server.log()


needs_dhclient = pytest.mark.skipif(
    not os.path.exists(DNSMASQ_BIN) or shutil.which("dhclient") is None,
    reason="needs dnsmasq and dhclient",
)


@needs_dhclient
def test_several_prefixes_one_host_line_and_stateless_options(
    dnsmasq: Callable[[DnsmasqSpec], Dnsmasq],
) -> None:
    server = dnsmasq(DNSMASQ["two_prefixes"])
    # One hosts line with two IPv6 addresses: both in one IA_NA; the SLAAC address is not leased.
    lease = server.client(
        "fa:16:3e:00:05:01", "-6", "-N", "-D", "LL", until=lambda t: t.count("iaaddr ") >= 2
    )
    assert "iaaddr 2001:db8:4::10 " in lease and "iaaddr 2001:db8:5::10 " in lease
    assert "f816:3eff:fe00:501" not in lease
    # Stateless with three IPv6 ranges on the link: the options arrive thanks to set:<tag>.
    learnt = server.client(
        "fa:16:3e:00:05:02", "-6", "-S", until=lambda t: "new_dhcp6_name_servers" in t
    )
    assert "new_dhcp6_name_servers=2001:db8:6::53\n" in learnt
    assert "new_dhcp6_domain_search=six.example.\n" in learnt
    assert "new_ip6_address" not in learnt


@needs_dhclient
def test_dual_stack_host_gets_both_families(dnsmasq: Callable[[DnsmasqSpec], Dnsmasq]) -> None:
    server = dnsmasq(DNSMASQ["dual_stack"])
    lease = server.client("fa:16:3e:00:04:01", "-4", until=lambda t: "fixed-address" in t)
    assert "fixed-address 10.0.0.10;" in lease
    assert "option routers 10.0.0.1;" in lease
    assert "option domain-name-servers 10.0.0.53,10.0.0.54;" in lease
    routes = "32,169,254,169,254,10,0,0,2,16,192,168,10,0,0,254,0,10,0,0,1"  # metadata first
    assert f"rfc3442-classless-static-routes {routes};" in lease
    assert 'option host-name "vm-c1";' in lease
    lease = server.client(
        "fa:16:3e:00:04:01", "-6", "-N", "-D", "LL", until=lambda t: "iaaddr" in t
    )
    assert "iaaddr 2001:db8:3::10 " in lease
    assert "dhcp6.name-servers 2001:db8:3::53;" in lease
