"""The L3 scheduler end to end: routers spread over two L3 hosts, and moved off one that dies.

A lab of 3 hosts (``multihost.py``): hosts 1 and 2 have the network role, host 3 only runs
workloads. Six routers spread three and three over the L3 hosts; two of them, each between two
networks with a workload on each on host 3, land one per L3 host and carry traffic. Then the L3 host holding one of them dies as a machine does: its agent is killed
(SIGKILL) and every process it started with it, the router namespaces it made go (namespace
names are global on this one machine, and a dead machine's go with it), and its underlay link
goes down. The server notices the silence (a short down time for the lab), moves the router to
the other L3 host, whose agent builds it; traffic between the workloads resumes. A ping every
0.1 s across the moved router measures the interruption, printed. The other router's traffic
never depended on the dead host, and every router of the dead host ends on the live one.

Proved by traffic and by what the hosts have (which host's agent claimed the namespace), the
API's ``/l3-agents`` only as the user-visible side.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lab_api import SLAAC, fixed_ip
from tests.e2e.multihost import HostLab, MultiHostLab, claimed, die, multihost_lab
from tests.e2e.traffic import ContinuousPing
from v6fabric.hoststate.model import router_namespace

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

DOWN_SECONDS = 6.0  # the server's L3 agent down time in this lab (Neutron's default: 75)
HEARTBEAT_SECONDS = 1.0
INTERVAL = 0.1  # the measuring ping's
FAILOVER_TIMEOUT = 180.0  # two busy cores: generous; the measured time is printed, not asserted


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


def _hosting(view: HostLab, router: dict) -> list[str]:
    found = view.call("GET", f"/v2.0/routers/{router['id']}/l3-agents", None, 200)["agents"]
    return [agent["host"] for agent in found]


def _routed_pair(h1: HostLab, h3: HostLab, n: int) -> tuple[dict, list[dict], list[str]]:
    """A router between two networks, a workload of each on host 3; the router, the
    workloads, their addresses (SLAAC, from that router's RAs)."""
    subnets, vms, addresses = [], [], []
    for side in (1, 2):
        net = h1.network(name=f"l3-{n}{side}")
        subnets.append(h1.subnet(net, f"2001:db8:4{n}{side}::/64", **SLAAC))
        port = h3.port(net)
        vms.append(h3.workload(f"l3-vm-{n}{side}", port))
        addresses.append(fixed_ip(port))
    router = h1.router(*subnets, name=f"l3-router-{n}")
    return router, vms, addresses


def test_routers_spread_over_the_l3_hosts_and_move_off_one_that_dies(mh: MultiHostLab) -> None:
    h1, h3 = mh.on(1), mh.on(3)
    pairs = [_routed_pair(h1, h3, n) for n in (1, 2)]
    for _router, vms, addresses in pairs:
        for vm, address in zip(vms, addresses, strict=True):
            h3.wait_addresses(vm, address, default_route=True, timeout=90)
    names = {mh.handle.host(i).name: i for i in (1, 2)}
    hosting = {router["id"]: _hosting(h1, router) for router, _vms, _addresses in pairs}
    assert sorted(h for found in hosting.values() for h in found) == sorted(names)  # one each
    plain = [h1.router(name=f"l3-plain-{n}") for n in range(4)]
    spread = Counter(h for r in [p[0] for p in pairs] + plain for h in _hosting(h1, r))
    assert spread == dict.fromkeys(names, 3), spread
    for router, vms, addresses in pairs:
        (host,) = hosting[router["id"]]
        assert router_namespace(router["id"]) in claimed(mh.handle.host(host).run_dir)
        assert h3.ping(vms[0], addresses[1], count=3), f"across {router['name']} on {host}"

    # the router on host 2 is the one to move (both would do)
    doomed, survivor = mh.handle.host(2), mh.handle.host(1)
    moving, vms, addresses = next(p for p in pairs if hosting[p[0]["id"]] == [doomed.name])
    staying, other_vms, other_addresses = next(p for p in pairs if p[0] is not moving)
    measuring = ContinuousPing(vms[0]["namespace"], addresses[1], count=100_000, interval=INTERVAL)
    try:
        time.sleep(1)  # a few answered pings before the death
        died = time.monotonic()
        die(mh, 2)
        wait_for(
            f"{moving['name']} on {survivor.name} in /l3-agents",
            lambda: _hosting(h1, moving) == [survivor.name],
            FAILOVER_TIMEOUT,
        )
        moved = time.monotonic()
        wait_for(
            f"v6r- of {moving['name']} made by {survivor.name}'s agent",
            lambda: router_namespace(moving["id"]) in claimed(survivor.run_dir),
            FAILOVER_TIMEOUT,
        )
        wait_for(
            f"traffic across {moving['name']} again",
            lambda: h3.ping(vms[0], addresses[1], count=2),
            FAILOVER_TIMEOUT,
        )
        resumed = time.monotonic()
        time.sleep(2)  # some answered pings after the gap, so the count below is whole
    finally:
        measuring.proc.send_signal(signal.SIGINT)  # ping prints its summary and ends
    result = measuring.result(timeout=30)
    interruption = result.lost * INTERVAL
    print(
        f"\nL3 failover: rescheduled {moved - died:.1f} s after the host died "
        f"(down time {DOWN_SECONDS} s, heartbeat {HEARTBEAT_SECONDS} s), traffic back after "
        f"{resumed - died:.1f} s; ping every {INTERVAL} s: {result.sent} sent, "
        f"{result.received} answered, interruption ~{interruption:.1f} s"
    )
    assert result.received > 0 and result.lost > 0, result.output[-500:]
    assert _hosting(h1, staying) == [survivor.name]
    for router in plain:
        wait_for(
            f"{router['name']} on {survivor.name}",
            lambda r=router: _hosting(h1, r) == [survivor.name],
            FAILOVER_TIMEOUT,
        )
    assert h3.ping(other_vms[0], other_addresses[1], count=3)  # never depended on host 2
    mh.reset()
