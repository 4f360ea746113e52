"""R22 through the API in a multi-host lab: an ``ha=True`` router on two L3 hosts fails over.

A lab of 4 hosts (``multihost.py``): hosts 1-3 have the network role, host 4 runs the
workloads. An admin makes a router with ``ha=True`` between two SLAAC networks; the server
(``max_l3_agents_per_router`` 3) places it on the three L3 hosts (HA network, ``ha-`` ports,
VRID, ``VrrpSpec`` each) and ``/l3-agents`` shows one instance ``active`` and two
``standby``, as the agents report them.
vm1 and vm2 (host 4, one per network) learn their addresses and default route from the
master's RAs.

While vm1 pings vm2 every 10 ms, holds a TCP session with it (a line every 20 ms) and solicits
RAs every 0.2 s, the master fails three ways in turn:

1. its underlay link goes down: another instance takes over (it reports ``active``); the link
   comes back, the two masters meet and one steps down (one active, two standby again);
2. its agent and keepalived are SIGKILLed: another takes over; the server then finds the host
   silent and shows its instance ``unknown``, but does not move it (a silent agent may leave a
   running keepalived behind: two masters);
3. its whole host dies (``die``: agent, daemons, namespaces, link): the last instance takes
   over.

Each time traffic resumes through the other instance, the TCP session carries on, and the
interruption (the longest time without an echo reply) is printed. A capture on host 4's
underlay shows every RA with the host it came from: none from a host whose hook had its
instance down at that moment (the hooks' transition logs). Nothing here is timed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("scapy")

from tests.e2e.conftest import namespaces, wait_for
from tests.e2e.ha_probes import (
    RaCapture,
    Soliciting,
    TcpStream,
    TimedPing,
    backup_ras,
    hook_log,
    lab_picture,
    transitions,
    uptime_offset,
)
from tests.e2e.lab_api import SLAAC, fixed_ip
from tests.e2e.multihost import MultiHostLab, die, multihost_lab
from tests.e2e.traffic import pings, processes_mentioning
from v6fabric.agent.vrrp import ha_namespace
from v6fabric.drivers.commands import run
from v6fabric.hoststate.model import router_namespace

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("keepalived", "radvd", "tcpdump", "rdisc6", "ping")),
        reason="needs keepalived, radvd, tcpdump, rdisc6 and ping",
    ),
]

DOWN_SECONDS = 6.0  # the server's L3 agent down time in this lab (Neutron's default: 75)
HEARTBEAT_SECONDS = 1.0
TIMEOUT = 180.0  # two busy cores: generous; the measured times are printed, not asserted


@pytest.fixture(scope="module")
def mh() -> Iterator[MultiHostLab]:
    with multihost_lab(
        hosts=4,
        underlay="ipv6",
        l3_hosts=3,
        l3_agent_down_seconds=DOWN_SECONDS,
        heartbeat_seconds=HEARTBEAT_SECONDS,
        max_l3_agents_per_router=3,
    ) as lab:
        yield lab


def ha_states(mh: MultiHostLab, router: dict) -> dict[str, str | None]:
    """Host -> ha_state, from ``/l3-agents``."""
    found = mh.on(1).call("GET", f"/v2.0/routers/{router['id']}/l3-agents", None, 200)
    return {agent["host"]: agent["ha_state"] for agent in found["agents"]}


def settled(mh: MultiHostLab, router: dict) -> tuple[str, list[str]] | None:
    """(active host, standby hosts) once the API shows one active and the others standby."""
    states = ha_states(mh, router)
    active = [h for h, s in states.items() if s == "active"]
    standby = sorted(h for h, s in states.items() if s == "standby")
    if len(states) == 3 and len(active) == 1 and len(standby) == 2:
        return active[0], standby
    return None


def index_of(mh: MultiHostLab, name: str) -> int:
    return mh.handle.host(name).index


def set_link(mh: MultiHostLab, name: str, up: bool) -> None:
    """A host's underlay link down, or up again with its address (gone with the link)."""
    plan = mh.handle.plan.hosts[index_of(mh, name) - 1]
    lines = [f"link set {plan.link} {'up' if up else 'down'}"]
    if up and plan.ipv6:
        lines.append(f"addr replace {plan.ipv6}/{mh.handle.plan.ipv6_prefix} dev {plan.link} nodad")
    run(["ip", "-batch", "-"], netns=plan.netns, input="\n".join(lines) + "\n")


def kill_agent_and_keepalived(mh: MultiHostLab, name: str) -> None:
    host = mh.handle.host(name)
    os.kill(host.pid, signal.SIGKILL)
    for pid, line in processes_mentioning(str(host.run_dir)).items():
        if line.split()[0].endswith("/keepalived"):  # started by its full path
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def picture(mh: MultiHostLab, router: dict, vms: list[dict]) -> str:
    """The lab's forwarding picture for the router's legs (``ha_probes.lab_picture``)."""
    hosts = []
    legs = {
        port["mac_address"]
        for port in mh.on(1).call("GET", f"/v2.0/ports?device_id={router['id']}", None, 200)[
            "ports"
        ]
    }
    for plan_host in mh.handle.plan.hosts:
        router_ns = ""
        if "network" in plan_host.roles:
            router_ns = ha_namespace(router_namespace(router["id"]), plan_host.netns)
        hosts.append(
            (plan_host.name, plan_host.netns, router_ns, mh.handle.host(plan_host.name).run_dir)
        )
    return lab_picture(hosts, [vm["namespace"] for vm in vms], legs)


def failover(
    mh: MultiHostLab, router: dict, vm1: dict, address: str, fail: Callable[[], None], old: str
) -> tuple[float, str]:
    """Cause ``fail`` of master ``old``; the interruption and the new master (by the API)."""
    ping = TimedPing(vm1["namespace"], address)
    time.sleep(1.0)
    fail()
    new = wait_for(
        "another instance reported active",
        lambda: next(
            (h for h, s in ha_states(mh, router).items() if s == "active" and h != old), None
        ),
        TIMEOUT,
    )
    wait_for("traffic through the new master", lambda: pings(vm1["namespace"], address), TIMEOUT)
    time.sleep(0.5)
    gap, replies, sent = ping.stop()
    print(f"  {old} -> {new}: replies {replies}/{sent}, interruption {gap:.3f} s")
    return gap, new


def test_an_ha_router_through_the_api_fails_over_and_shows_its_states(mh: MultiHostLab) -> None:
    admin, h4 = mh.on(1), mh.on(4)
    subnets = []
    for side in (1, 2):
        net = admin.network(name=f"ha-net-{side}")
        subnets.append(admin.subnet(net, f"2001:db8:7c{side}::/64", **SLAAC))
    router = admin.router(*subnets, name="ha-router", ha=True)
    assert admin.show("router", router["id"])["ha"] is True
    vms, addresses = [], []
    for side, subnet in enumerate(subnets, start=1):
        port = h4.port({"id": subnet["network_id"]})
        vms.append(h4.workload(f"ha-vm{side}", port))
        addresses.append(fixed_ip(port))
    for vm, address in zip(vms, addresses, strict=True):
        wait_for(f"{vm['name']} plugged", lambda v=vm: v["namespace"] in namespaces(), TIMEOUT)
        try:
            h4.wait_addresses(vm, address, default_route=True, timeout=TIMEOUT)
        except AssertionError:
            print("AFTER FAILURE\n" + picture(mh, router, vms))
            raise
    master, standby = wait_for("one active, two standby", lambda: settled(mh, router), TIMEOUT)
    print(f"\ninstances: {master} active, {standby} standby")
    print(picture(mh, router, vms))
    vm1, vm2 = vms
    # Not one shot: when instances start together two may become master before they hear each
    # other; the one that stays sends its NAs at once, but a loaded machine can delay that.
    # (This test once failed one run in three here, at "all back, two standby" or at the
    # kill's states: three races, described in docs/ha.md "Races the API lab test found".)
    try:
        wait_for("traffic across the master", lambda: h4.ping(vm1, addresses[1], count=1), TIMEOUT)
    except AssertionError:
        print("AFTER FAILURE\n" + picture(mh, router, vms))
        raise

    plan = {h.name: h for h in mh.handle.plan.hosts}
    endpoints = {name: plan[name].ipv6 for name in plan}
    offset = uptime_offset()
    capture = RaCapture(plan[h4.host].netns, plan[h4.host].link, mh.handle.lab_dir / "ha-ra.pcap")
    soliciting = Soliciting(vm1["namespace"])
    stream = TcpStream(vm1["namespace"], vm2["namespace"], addresses[1])
    figures: dict[str, float] = {}
    try:
        print(f"{master}: underlay link down")
        figures["link down"], _new = failover(
            mh, router, vm1, addresses[1], lambda: set_link(mh, master, False), master
        )
        set_link(mh, master, True)
        try:
            master, standby = wait_for(
                "all back, two standby", lambda: settled(mh, router), TIMEOUT
            )
        except AssertionError:
            print("states:", ha_states(mh, router))
            print("AFTER FAILURE\n" + picture(mh, router, vms))
            raise
        print(f"  link back: {master} active, {standby} standby")

        print(f"{master}: agent and keepalived SIGKILLed")
        killed = master
        figures["agent and keepalived killed"], master = failover(
            mh, router, vm1, addresses[1], lambda: kill_agent_and_keepalived(mh, killed), killed
        )
        wait_for(
            f"{killed}'s instance unknown (its agent silent), not moved",
            lambda: ha_states(mh, router).get(killed) == "unknown",
            TIMEOUT,
        )
        time.sleep(DOWN_SECONDS / 2)  # two rescheduling passes (every 1.5 s) or more
        states = ha_states(mh, router)
        # The two standbys' master-down timers end together (one priority everywhere): both
        # may take over, and one steps down at the other's first advert. Which one stays is
        # for the API to say now, not for the first "active" that ``failover`` saw.
        master = next((h for h, s in states.items() if s == "active" and h != killed), master)
        third = next(h for h in standby if h != master)
        if states != {killed: "unknown", master: "active", third: "standby"}:
            print("AFTER FAILURE\n" + picture(mh, router, vms))
        assert states == {killed: "unknown", master: "active", third: "standby"}
        print(f"  {killed} unknown and kept, {third} still standby")

        print(f"{master}: host dies")
        doomed = master
        figures["host died"], master = failover(
            mh, router, vm1, addresses[1], lambda: die(mh, index_of(mh, doomed)), doomed
        )
        assert master == third
    finally:
        soliciting.stop()
        ras = capture.stop_ras()
        stream.close()
    print("interruptions:", {k: round(v, 3) for k, v in figures.items()})
    for name in plan:
        if "network" in plan[name].roles:
            ns = ha_namespace(router_namespace(router["id"]), plan[name].netns)
            print(f"{name}'s hook: {hook_log(mh.handle.host(name).run_dir, ns)}")
    print(f"RAs captured on {h4.host}'s underlay: {len(ras)}")
    assert not stream.errors, stream.errors
    assert ras, "no RA captured at all: the capture proves nothing"
    namespace = router_namespace(router["id"])
    logs = {
        endpoints[name]: transitions(
            mh.handle.host(name).run_dir, ha_namespace(namespace, plan[name].netns)
        )
        for name in plan
        if "network" in plan[name].roles
    }
    assert backup_ras(ras, logs, offset) == []
    assert h4.ping(vm1, addresses[1], count=3)
