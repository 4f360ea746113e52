"""R16 on a provider network: only the upstream router the subnet names may advertise.

The network is modelled as Neutron does a provider network with an upstream router: the subnet
has no ``ipv6_ra_mode`` (v6fabric sends no RA on it), ``ipv6_address_mode`` slaac and
``gateway_ip`` the upstream router's link-local address. The test plays the upstream segment:
its own namespace, cabled by a veth into the network's bridge on the host, sends RAs from the
named router (``fe80::1``, a good prefix) and from an impostor on the same wire (``fe80::bad``,
a bogus prefix and default route).

A guarded workload configures the good prefix and routes through ``fe80::1`` only; a workload
whose port has port security off receives both (the control that shows the impostor's RAs
really reach the bridge and would be believed).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lab import Lab, one_host_lab
from v6fabric.drivers.commands import in_netns, run
from v6fabric.hoststate.model import bridge_name

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")
pytest.importorskip("scapy")  # the upstream segment's RAs are built with it

GOOD, BOGUS = "2001:db8:16::/64", "2001:db8:bad::/64"
ROUTER, IMPOSTOR = "fe80::1", "fe80::bad"

# Sends, every 0.3 s until killed, an RA from each source: (source, MAC, prefix).
_ADVERTISE = """
import sys, time
from scapy.all import Ether, IPv6, ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, sendp
iface = sys.argv[1]
frames = []
for spec in sys.argv[2:]:
    src, mac, prefix = spec.split(',')
    net, plen = prefix.split('/')
    frames.append(
        Ether(src=mac, dst='33:33:00:00:00:01')
        / IPv6(src=src, dst='ff02::1', hlim=255)
        / ICMPv6ND_RA(routerlifetime=1800)
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
        / ICMPv6NDOptPrefixInfo(prefix=net, prefixlen=int(plen), L=1, A=1,
                                validlifetime=3600, preferredlifetime=1800)
    )
while True:
    sendp(frames, iface=iface, verbose=False)
    time.sleep(0.3)
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with one_host_lab() as lab:
        yield lab


@pytest.fixture
def upstream(lab: Lab) -> Iterator[tuple[str, dict, dict]]:
    """The provider network, its two workloads and the upstream namespace cabled into it."""
    net = lab.network(name="provider")
    lab.subnet(net, GOOD, ipv6_address_mode="slaac", gateway_ip=ROUTER)
    guarded = lab.port(net)
    unguarded = lab.port(net, port_security_enabled=False, security_groups=[])
    victim = lab.workload("r16-victim", guarded)
    control = lab.workload("r16-control", unguarded)
    lab.wait_active(guarded, unguarded)
    name = f"t6-up-{secrets.token_hex(3)}"
    uplink = f"t6u{secrets.token_hex(3)}"
    run(["ip", "netns", "add", name])
    try:
        run(["ip", "-n", lab.host_netns, "link", "add", uplink, "type", "veth", "peer",
             "name", "eth0", "netns", name])  # fmt: skip
        run(["ip", "-n", lab.host_netns, "link", "set", uplink, "master",
             bridge_name(net["id"]), "up"])  # fmt: skip
        run(["ip", "-n", name, "link", "set", "eth0", "up"])
        yield name, victim, control
    finally:
        run(["ip", "-n", lab.host_netns, "link", "del", uplink], check=False)
        run(["ip", "netns", "del", name], check=False)
        lab.reset()


def _prefixes_and_routers(lab: Lab, workload: dict) -> tuple[set, set]:
    nic = lab.guest(workload).interfaces.get("eth0")
    if nic is None:
        return set(), set()
    prefixes = {a.interface.network for a in nic.ipv6}
    routers = {str(r.via) for r in nic.default_routes if r.destination.version == 6}
    return prefixes, routers


def _hears_both(seen: tuple[set, set], good: object, bogus: object) -> bool:
    prefixes, routers = seen
    return {good, bogus} <= prefixes and {ROUTER, IMPOSTOR} <= routers


def test_only_the_named_upstream_router_is_believed(lab: Lab, upstream) -> None:
    namespace, victim, control = upstream
    macs = {ROUTER: "02:00:00:00:16:01", IMPOSTOR: "02:00:00:00:16:66"}
    argv = [sys.executable, "-c", _ADVERTISE, "eth0",
            f"{ROUTER},{macs[ROUTER]},{GOOD}", f"{IMPOSTOR},{macs[IMPOSTOR]},{BOGUS}"]  # fmt: skip
    sender = subprocess.Popen(in_netns(argv, namespace), stderr=subprocess.PIPE, text=True)
    try:
        good, bogus = ipaddress.ip_network(GOOD), ipaddress.ip_network(BOGUS)
        # The control (no port security) hears both: the impostor's RAs do reach the bridge.
        wait_for(
            "the unguarded workload to take both prefixes and both routers",
            lambda: _hears_both(_prefixes_and_routers(lab, control), good, bogus),
            timeout=20,
        )
        wait_for(
            "the guarded workload to take the upstream router's prefix",
            lambda: good in _prefixes_and_routers(lab, victim)[0],
            timeout=20,
        )
        time.sleep(2)  # several more rounds of the impostor's RAs
        prefixes, routers = _prefixes_and_routers(lab, victim)
        assert bogus not in prefixes
        assert routers == {ROUTER}
    finally:
        sender.kill()
        _out, err = sender.communicate()
        assert "Traceback" not in (err or ""), err
