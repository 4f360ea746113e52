"""Agent restart with traffic flowing: no packet lost, no daemon restarted, nothing recreated.

A router joins a SLAAC network and a DHCPv6-stateful network, a workload on each. While both
workloads ping each other across the router (every 50 ms), the agent is stopped, the host runs
without one for a moment, and a new agent starts on the same run directory and host namespace.
Its first pass must find the host correct and apply nothing; every daemon (radvd, dnsmasq,
the guests' agents and dhclient) keeps its pid; every namespace keeps its inode and every link
(bridges, taps, ``qr-``, ``ns-``, the guests' NICs) its ifindex; not one echo is lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lab import SLAAC, STATEFUL, Lab, fixed_ip, one_host_lab
from tests.e2e.traffic import (
    ContinuousPing,
    links,
    namespace_inode,
    pid_files,
)
from v6fabric.hoststate.model import dhcp_namespace, router_namespace

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")

COUNT, INTERVAL = 200, 0.05  # 10 s of traffic


@pytest.fixture
def restartable() -> Iterator[Lab]:
    with one_host_lab(wait=2.0) as lab:  # a short long-poll keeps the restart short
        yield lab


def host_objects(lab: Lab, namespaces: list[str]) -> dict[str, object]:
    """Namespace inodes and link ifindexes: anything recreated shows up as a change."""
    seen: dict[str, object] = {"netns " + n: namespace_inode(n) for n in namespaces}
    for namespace in [lab.host_netns, *namespaces]:
        seen.update({f"link {namespace}/{name}": i for name, i in links(namespace).items()})
    return seen


def test_agent_restart_keeps_traffic_daemons_and_objects(restartable: Lab) -> None:
    lab = restartable
    net_s, net_d = lab.network(name="slaac"), lab.network(name="stateful")
    sub_s = lab.subnet(net_s, "2001:db8:31::/64", **SLAAC)
    sub_d = lab.subnet(net_d, "2001:db8:32::/64", **STATEFUL)
    router = lab.router(sub_s, sub_d, name="r")
    port_s, port_d = lab.port(net_s), lab.port(net_d)
    vm_s, vm_d = lab.workload("s", port_s), lab.workload("d", port_d)
    lab.wait_active(port_s, port_d)
    addr_s, addr_d = fixed_ip(port_s), fixed_ip(port_d)
    lab.wait_addresses(vm_s, addr_s, default_route=True)
    lab.wait_addresses(vm_d, addr_d, default_route=True)
    assert lab.ping(vm_s, addr_d) and lab.ping(vm_d, addr_s)

    namespaces = [
        router_namespace(router["id"]),
        dhcp_namespace(net_d["id"]),
        vm_s["namespace"],
        vm_d["namespace"],
    ]
    objects_before = host_objects(lab, namespaces)
    pids_before = pid_files(lab.run_dir)
    kinds = {path.rsplit("/", 1)[-1] for path, pid in pids_before.items() if pid}
    assert {"radvd.pid", "dnsmasq.pid", "guest.pid"} <= kinds, pids_before
    assert any(k.startswith("dhclient6.") for k in kinds), pids_before  # the stateful guest
    assert all(pids_before.values()), pids_before
    assert any("/qr-" in k for k in objects_before)
    assert any("/ns-" in k for k in objects_before)

    pings = [
        ContinuousPing(vm_s["namespace"], addr_d, COUNT, INTERVAL),
        ContinuousPing(vm_d["namespace"], addr_s, COUNT, INTERVAL),
    ]
    try:
        time.sleep(1)  # traffic flows before the restart
        started = time.monotonic()
        new_agent = lab.restart_agent(between=0.5)
        wait_for("the new agent's first pass", lambda: new_agent.reports, 20)
        restart_seconds = time.monotonic() - started
        results = [p.result(timeout=COUNT * INTERVAL + 30) for p in pings]
    finally:
        for p in pings:
            p.kill()

    first = new_agent.reports[0]
    assert first.applied == [], first.applied
    assert first.failed == [] and first.converged, (first.failed, first.pending)
    assert set(first.ports.values()) == {"ACTIVE"}, first.ports
    for result in results:
        assert result.sent == COUNT and result.lost == 0, result.output
    assert restart_seconds < COUNT * INTERVAL - 1  # the restart happened while pinging
    assert pid_files(lab.run_dir) == pids_before
    assert host_objects(lab, namespaces) == objects_before
    # Later passes (the long-poll goes on) still change nothing.
    assert all(r.applied == [] for r in new_agent.reports), [r.applied for r in new_agent.reports]
