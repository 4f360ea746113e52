"""The DHCP scheduler end to end: a network's DHCP moves off a network host that dies.

A lab of 3 hosts (``multihost.py``): hosts 1 and 2 have the network role, host 3 only runs
workloads. A network without a router, with a DHCPv6-stateful and a DHCPv4 subnet: its RAs
(M flag) and both DHCP servers come from its ``v6d-`` namespace, on the one network host the
scheduler placed it on. A workload on host 3 gets its addresses from there over the overlay.
Then that host dies as a machine does (``multihost.die``: agent and daemons SIGKILLed, its
namespaces gone, its underlay link down). The server notices the silence (a short down time
for the lab), moves the network's DHCP to the other network host, whose agent builds the
namespace and starts dnsmasq and radvd in it; a new workload on host 3 then gets its addresses
from there. How long each step took after the death is printed.

Proved by the workloads' configured addresses and by which host's agent made the namespace
and runs dnsmasq in it; the API's ``/dhcp-agents`` only as the user-visible side.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lab_api import STATEFUL, fixed_ip
from tests.e2e.multihost import HostLab, MultiHostLab, claimed, die, multihost_lab
from tests.e2e.traffic import processes_mentioning
from v6fabric.drivers.commands import run
from v6fabric.hoststate.model import dhcp_namespace

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

DOWN_SECONDS = 6.0  # the server's agent down time in this lab (Neutron's default: 75)
HEARTBEAT_SECONDS = 1.0
FAILOVER_TIMEOUT = 180.0  # two busy cores: generous; the measured times are printed


@pytest.fixture(scope="module")
def mh() -> Iterator[MultiHostLab]:
    with multihost_lab(
        hosts=3,
        underlay="ipv6",
        l3_hosts=2,
        l3_agent_down_seconds=DOWN_SECONDS,
        heartbeat_seconds=HEARTBEAT_SECONDS,
    ) as lab:
        yield lab


def _hosting(view: HostLab, network: dict) -> list[str]:
    found = view.call("GET", f"/v2.0/networks/{network['id']}/dhcp-agents", None, 200)["agents"]
    return [agent["host"] for agent in found]


def _dnsmasq_in(run_dir: Path, namespace: str) -> bool:
    """Whether a dnsmasq started by the agent of ``run_dir`` runs in ``namespace``."""
    for pid, line in processes_mentioning(str(run_dir)).items():
        if Path(line.split()[0]).name != "dnsmasq":
            continue
        found = run(["ip", "netns", "identify", str(pid)], check=False).stdout.split()
        if found == [namespace]:
            return True
    return False


def _addresses(port: dict) -> tuple[str, str]:
    return fixed_ip(port, 6), fixed_ip(port, 4)


def test_a_networks_dhcp_moves_off_a_network_host_that_dies(mh: MultiHostLab) -> None:
    h1, h3 = mh.on(1), mh.on(3)
    net = h1.network(name="dhcp-failover")
    h1.subnet(net, "2001:db8:61::/64", **STATEFUL)
    h1.subnet(net, "10.61.0.0/24")
    namespace = dhcp_namespace(net["id"])
    before_port = h3.port(net)
    before = h3.workload("dhcp-vm-before", before_port)
    h3.wait_active(before_port, timeout=90)
    h3.wait_addresses(before, *_addresses(before_port), timeout=90)

    (holder,) = _hosting(h1, net)
    doomed = mh.handle.host(holder)
    (survivor,) = [mh.handle.host(i) for i in (1, 2) if mh.handle.host(i).name != holder]
    assert namespace in claimed(doomed.run_dir)
    assert _dnsmasq_in(doomed.run_dir, namespace)
    assert namespace not in claimed(survivor.run_dir)
    assert not _dnsmasq_in(survivor.run_dir, namespace)

    died = time.monotonic()
    die(mh, doomed.index)
    wait_for(
        f"{net['name']}'s DHCP on {survivor.name} in /dhcp-agents",
        lambda: _hosting(h1, net) == [survivor.name],
        FAILOVER_TIMEOUT,
    )
    moved = time.monotonic()
    wait_for(
        f"{namespace} made by {survivor.name}'s agent, dnsmasq running in it",
        lambda: namespace in claimed(survivor.run_dir) and _dnsmasq_in(survivor.run_dir, namespace),
        FAILOVER_TIMEOUT,
    )
    serving = time.monotonic()
    after_port = h3.port(net)
    after = h3.workload("dhcp-vm-after", after_port)
    h3.wait_active(after_port, timeout=FAILOVER_TIMEOUT)
    h3.wait_addresses(after, *_addresses(after_port), timeout=FAILOVER_TIMEOUT)
    addressed = time.monotonic()
    print(
        f"\nDHCP failover: rescheduled {moved - died:.1f} s after the host died "
        f"(down time {DOWN_SECONDS} s, heartbeat {HEARTBEAT_SECONDS} s), dnsmasq serving on "
        f"{survivor.name} after {serving - died:.1f} s, a new workload addressed (DHCPv6 and "
        f"DHCPv4) {addressed - died:.1f} s after the death ({addressed - serving:.1f} s of it "
        "the workload's own start)"
    )
    assert _hosting(h1, net) == [survivor.name]
    assert not _dnsmasq_in(doomed.run_dir, namespace)
    mh.reset()
