"""The workload's cloud-init-like step against a real link-local metadata service (root only).

A namespace ``t7-<tag>-md`` plays the network's DHCP/metadata namespace: a bridge with
``fe80::a9fe:a9fe`` (nodad) and a router address, radvd advertising a SLAAC prefix, and a tiny
HTTP server bound to ``[fe80::a9fe:a9fe%br]:80`` serving a fixed meta_data.json and a
network_data.json that gives the workload a chosen, non-EUI-64 address (R8). The workload's
kernel first forms its EUI-64 SLAAC address from the RA; the step must leave only the chosen
address, autoconf off, the RA's default route kept. Everything is judged from the kernel
(``ip -j``, ``/proc/sys``) and the workload's own files; everything is removed afterwards.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import eui64, wait_for
from v6fabric.drivers.commands import run, spawn
from v6fabric.drivers.netns import run_in_netns
from v6fabric.drivers.sysctl import ProcSysctls
from v6fabric.hoststate.model import WorkloadInterface, WorkloadSpec
from v6fabric.workloads import plug, unplug
from v6fabric.workloads.paths import WorkloadPaths
from v6fabric.workloads.plumbing import GUEST_SYSCTLS, OPTIMISTIC_DAD
from v6fabric.workloads.ra import RaSocket

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("ip", "radvd")), reason="needs iproute2 and radvd"
    ),
]

PREFIX = "2001:db8:77::/64"
CHOSEN = "2001:db8:77::55"  # the port's fixed IP: not the EUI-64 of MAC
MAC = "fa:16:3e:77:00:07"
ROUTER_MAC = "fa:16:3e:77:00:fe"  # the bridge's, set: else it follows its ports' MACs
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyOnly0000000000000000000000 e2e@v6fabric"
META = {"uuid": "wl-77", "name": "vm77", "hostname": "vm77", "public_keys": {"e2e": KEY}}
NETWORK = {
    "links": [{"id": "tap77", "type": "ovs", "ethernet_mac_address": MAC, "mtu": 1500}],
    "networks": [
        {"id": "network0", "type": "ipv6", "link": "tap77", "ip_address": CHOSEN,
         "netmask": "ffff:ffff:ffff:ffff::", "network_id": "n77",
         "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8:77::1"}]},
    ],
    "services": [],
}  # fmt: skip
RADVD = """interface {ifname} {{
  AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 10; AdvRASolicitedUnicast on;
  prefix {prefix} {{ AdvOnLink on; AdvAutonomous on; }};
}};
"""
SERVER = """\
import http.server, socket, sys, pathlib
ifname, root, ready = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])

class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.removeprefix("/openstack/latest/")
        path = root / name
        if "/" in name or not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

sockaddr = socket.getaddrinfo(f"fe80::a9fe:a9fe%{ifname}", 80, socket.AF_INET6,
                              socket.SOCK_STREAM)[0][4]
server = Server(sockaddr, Handler)
ready.write_text("listening\\n")
server.serve_forever()
"""


@dataclass
class Network:
    """The metadata namespace with its bridge, radvd and HTTP server; the test's directory."""

    tag: str
    ns: str
    bridge: str
    run_dir: Path
    own_dir: Path

    def plain_workload(self) -> str:
        """A namespace with one veth into the bridge, the known MAC and a cloud image's sysctls
        (no guest agent: the step is run by hand)."""
        vm = f"t7-{self.tag}-vm"
        run(["ip", "netns", "add", vm])
        port = f"p{self.tag}"
        run(["ip", "-n", self.ns, "link", "add", port, "type", "veth",
             "peer", "name", "eth0", "netns", vm, "address", MAC])  # fmt: skip
        run(["ip", "-n", self.ns, "link", "set", port, "master", self.bridge, "up"])
        ProcSysctls().write(
            vm, {f"net.ipv6.conf.eth0.{k}": str(v) for k, v in GUEST_SYSCTLS + OPTIMISTIC_DAD}
        )
        run(["ip", "-n", vm, "link", "set", "lo", "up"])
        run(["ip", "-n", vm, "link", "set", "eth0", "up"])
        return vm


@pytest.fixture
def network(ns_tag: str, lab_dirs: tuple[Path, Path]) -> Iterator[Network]:
    """Built here, removed by ``lab_dirs`` (every namespace with the tag, every pid file)."""
    run_dir, own_dir = lab_dirs
    ns, bridge = f"t7-{ns_tag}-md", f"br{ns_tag}"
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "add", bridge, "type", "bridge",
         "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"])  # fmt: skip
    run(["ip", "-n", ns, "link", "set", bridge, "address", ROUTER_MAC])
    ProcSysctls().write(
        ns,
        {"net.ipv6.conf.all.forwarding": "1", f"net.ipv6.conf.{bridge}.accept_dad": "0",
         "net.ipv6.conf.default.disable_ipv6": "1"},  # bridge ports: no IPv6 of their own
    )  # fmt: skip
    for address in ("fe80::a9fe:a9fe/64", "2001:db8:77::1/64"):
        run(["ip", "-n", ns, "addr", "add", address, "dev", bridge, "nodad"])
    run(["ip", "-n", ns, "link", "set", bridge, "up"])
    files = own_dir / "served"
    files.mkdir()
    (files / "meta_data.json").write_text(json.dumps(META))
    (files / "network_data.json").write_text(json.dumps(NETWORK))  # no user_data: 404
    (own_dir / "server.py").write_text(SERVER)
    ready = own_dir / "server.ready"
    server = spawn(
        [sys.executable, str(own_dir / "server.py"), bridge, str(files), str(ready)],
        netns=ns, log_file=own_dir / "server.log",
    )  # fmt: skip
    (own_dir / "server.pid").write_text(f"{server.pid}\n")
    (own_dir / "radvd.conf").write_text(RADVD.format(ifname=bridge, prefix=PREFIX))
    radvd = spawn(
        ["radvd", "-n", "-C", str(own_dir / "radvd.conf"), "-p", str(own_dir / "radvd.pid"),
         "-m", "logfile", "-l", str(own_dir / "radvd.log")],
        netns=ns,
    )  # fmt: skip
    try:
        wait_for("the metadata server", ready.exists, timeout=10)
        yield Network(ns_tag, ns, bridge, run_dir, own_dir)
    finally:
        for proc in (server, radvd):
            proc.kill()
            proc.wait(timeout=5)


def _eth0(ns: str) -> dict:
    (link,) = json.loads(run(["ip", "-n", ns, "-j", "addr", "show", "dev", "eth0"]).stdout)
    return link


def _global6(ns: str) -> set[str]:
    return {
        f"{a['local']}/{a['prefixlen']}"
        for a in _eth0(ns)["addr_info"]
        if a["family"] == "inet6" and a.get("scope") == "global"
    }


def _default_via(ns: str) -> set[str]:
    routes = json.loads(run(["ip", "-n", ns, "-j", "-6", "route", "show", "default"]).stdout)
    return {r["gateway"] for r in routes if r.get("protocol") == "ra"}


def _autoconf(ns: str) -> str:
    return ProcSysctls().read(ns, ["net.ipv6.conf.eth0.autoconf"])["net.ipv6.conf.eth0.autoconf"]


def _ras_received(ns: str) -> int:
    snmp = run(["cat", "/proc/net/snmp6"], netns=ns).stdout
    counters = dict(line.split() for line in snmp.splitlines() if line.strip())
    return int(counters["Icmp6InRouterAdvertisements"])


def _assert_configured(vm: str, paths: WorkloadPaths) -> None:
    """The kernel has the chosen address only, autoconf off, the RA's default route; the
    workload's own files hold the key and the records."""
    assert _global6(vm) == {f"{CHOSEN}/64"}
    assert _autoconf(vm) == "0"
    assert _default_via(vm) == {str(eui64("fe80::/64", ROUTER_MAC))}
    assert paths.authorized_keys.read_text() == KEY + "\n"
    assert oct(paths.authorized_keys.stat().st_mode & 0o777) == "0o600"
    assert json.loads(paths.metadata_file("meta_data.json").read_text()) == META
    assert json.loads(paths.metadata_file("network_data.json").read_text()) == NETWORK
    assert not paths.metadata_file("user_data").exists()
    status = json.loads(paths.cloudinit_status.read_text())
    assert status["ok"] and status["source"] == "http://[fe80::a9fe:a9fe%eth0]", status
    assert status["files"]["user_data"] == "none (404)"


def test_the_step_applies_a_chosen_address_keys_and_records(network: Network) -> None:
    vm = network.plain_workload()
    slaac = f"{eui64(PREFIX, MAC)}/64"
    wait_for("the kernel's SLAAC address", lambda: slaac in _global6(vm))
    wait_for("the RA's default route", lambda: _default_via(vm))
    paths = WorkloadPaths(network.run_dir / "workloads" / vm)
    argv = [sys.executable, "-m", "v6fabric.workloads.cloudinit",
            "--workload-dir", str(paths.root), "--interfaces", "eth0", "--timeout", "20"]  # fmt: skip

    first = run(argv, netns=vm, timeout=60)
    assert json.loads(first.stdout)["network"]["applied"] == [
        "sysctl net.ipv6.conf.eth0.autoconf=0",
        f"ip addr add {CHOSEN}/64 dev eth0 optimistic",
        f"ip addr del {slaac} dev eth0",
    ], first.stderr
    _assert_configured(vm, paths)

    again = json.loads(run(argv, netns=vm, timeout=60).stdout)
    assert again["ok"] and again["network"]["applied"] == []  # idempotent
    # A fresh RA (solicited) must not bring the EUI-64 address back: autoconf is off.
    before = _ras_received(vm)
    ifindex = run_in_netns(vm, lambda: socket.if_nametoindex("eth0"))
    run_in_netns(vm, lambda: _solicit(ifindex))
    wait_for("an RA after the step", lambda: _ras_received(vm) > before)
    assert _global6(vm) == {f"{CHOSEN}/64"}
    assert ipaddress.ip_network(PREFIX) in _onlink(vm)  # the RA's on-link prefix is kept


def _solicit(ifindex: int) -> None:
    ra = RaSocket()
    try:
        ra.solicit(ifindex)
    finally:
        ra.close()


def _onlink(ns: str) -> set[ipaddress.IPv6Network]:
    routes = json.loads(run(["ip", "-n", ns, "-j", "-6", "route", "show", "dev", "eth0"]).stdout)
    return {ipaddress.ip_network(r["dst"]) for r in routes if r["dst"] not in ("default",)}


@pytest.mark.skipif(not shutil.which("dhclient"), reason="the guest agent runs dhclient")
def test_the_guest_agent_runs_the_step_at_boot(network: Network) -> None:
    """plug() as the host agent does; the guest agent it starts fetches on its own, although
    the tap joins the bridge only after the guest has started (retries cover it)."""
    ns = f"v6w-t{network.tag}"
    iface = WorkloadInterface(f"port-{network.tag}", "eth0", f"tap{network.tag}", MAC, 1500)
    spec = WorkloadSpec(f"wl-{network.tag}", "vm77", ns, (iface,))
    try:
        plug(spec, host_netns=network.ns, run_dir=network.run_dir)
        run(["ip", "-n", network.ns, "link", "set", iface.tap, "master", network.bridge, "up"])
        paths = WorkloadPaths.of(network.run_dir, ns)
        wait_for("the step's status", paths.cloudinit_status.exists, timeout=40)
        wait_for("the chosen address only", lambda: _global6(ns) == {f"{CHOSEN}/64"})
        _assert_configured(ns, paths)
        status = json.loads(paths.cloudinit_status.read_text())
        print(f"boot step: {status['attempts']} attempts, {status['started_at']} -> "
              f"{status['finished_at']}")  # fmt: skip
    finally:
        unplug(ns, run_dir=network.run_dir)
