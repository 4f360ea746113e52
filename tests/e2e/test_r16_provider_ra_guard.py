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
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import remove_tagged, wait_for
from tests.e2e.lab import Lab, default_routers
from v6fabric.drivers.commands import run
from v6fabric.hoststate.model import bridge_name

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")
pytest.importorskip("scapy")  # the upstream segment's RAs are built with it

from tests.e2e.attacks import ra, sending  # noqa: E402

GOOD, BOGUS = "2001:db8:16::/64", "2001:db8:bad::/64"
ROUTER, IMPOSTOR = "fe80::1", "fe80::bad"
MACS = {ROUTER: "02:00:00:00:16:01", IMPOSTOR: "02:00:00:00:16:66"}


@pytest.fixture
def upstream(clean: Lab) -> Iterator[tuple[str, dict, dict]]:
    """The provider network, its two workloads and the upstream namespace cabled into it."""
    lab = clean
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
        remove_tagged(name, [])  # the uplink goes with its peer


def _prefixes_and_routers(lab: Lab, workload: dict) -> tuple[set, set]:
    nic = lab.guest(workload).interfaces.get("eth0")
    return {a.interface.network for a in nic.ipv6} if nic else set(), default_routers(nic)


def _hears_both(seen: tuple[set, set], good: object, bogus: object) -> bool:
    prefixes, routers = seen
    return {good, bogus} <= prefixes and {ROUTER, IMPOSTOR} <= routers


def test_only_the_named_upstream_router_is_believed(lab: Lab, upstream) -> None:
    namespace, victim, control = upstream
    adverts = [
        ra(MACS[source], source, str(ipaddress.ip_network(prefix).network_address))
        for source, prefix in ((ROUTER, GOOD), (IMPOSTOR, BOGUS))
    ]
    with sending(namespace, adverts, interval=0.3):
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
