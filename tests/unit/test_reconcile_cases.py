"""Named cases of the agent's reconcile on the fake drivers: daemon reload versus restart,
ownership, action order, workload taps, retries."""

from __future__ import annotations

import dataclasses
import signal

import pytest

from tests.unit.test_reconcile import EMPTY, HOST_NS, RUN_DIR, STAND_IN, current_plan, new_host
from v6fabric.agent import loop
from v6fabric.agent.actions import (
    AddAddress,
    AddNamespace,
    AddVeth,
    DeleteLink,
    DeleteNamespace,
    ReloadDaemon,
    ReplaceRoute,
    SetLink,
    SetSysctls,
    StartDaemon,
    StopDaemon,
    WriteFile,
)
from v6fabric.agent.loop import Agent
from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.netlink import AddBridge
from v6fabric.hoststate.model import (
    DhcpHost,
    DhcpRange,
    DnsmasqSpec,
    HostState,
    NamespaceSpec,
    NetworkSpec,
    PortSpec,
    RadvdSpec,
    RaInterface,
    RaPrefix,
    RouteSpec,
    bridge_name,
    tap_name,
)

NET = "net00000001"
BRIDGE = bridge_name(NET)
ROUTER_NS, DHCP_NS = "v6r-router1", f"v6d-{NET}"
RPORT, DPORT, WPORT = "rport000001", "dport000001", "wport000001"
QR, NS_IF = "qr-" + RPORT, "ns-" + DPORT


def lab_state(hosts: tuple[DhcpHost, ...] = (), prefixes: int = 1, lease: int = 86400) -> HostState:
    ra = RaInterface(
        QR,
        False,
        False,
        1500,
        tuple(RaPrefix(f"2001:db8:{i}::/64", True) for i in range(1, prefixes + 1)),
    )
    dhcp_range = DhcpRange("subnet-1", 6, "2001:db8:9::", 64, lease_seconds=lease)
    return HostState(
        host="h1",
        revision=1,
        networks=(NetworkSpec(NET, BRIDGE, 1500),),
        ports=(
            PortSpec(
                RPORT,
                NET,
                "router",
                tap_name(RPORT),
                "fa:16:3e:00:00:01",
                1500,
                True,
                ROUTER_NS,
                QR,
                ("2001:db8:1::1/64", "2001:db8:2::1/64"),
            ),
            PortSpec(
                DPORT,
                NET,
                "dhcp",
                tap_name(DPORT),
                "fa:16:3e:00:00:02",
                1500,
                True,
                DHCP_NS,
                NS_IF,
                ("2001:db8:9::2/64",),
            ),
            PortSpec(WPORT, NET, "workload", tap_name(WPORT), "fa:16:3e:00:00:03", 1500),
        ),
        namespaces=(
            NamespaceSpec(ROUTER_NS, True, (RouteSpec("2001:db8:ff::/48", "2001:db8:1::fe"),)),
            NamespaceSpec(DHCP_NS),
        ),
        radvd=(RadvdSpec(ROUTER_NS, (ra,)),),
        dnsmasq=(DnsmasqSpec(DHCP_NS, NET, NS_IF, (dhcp_range,), hosts),),
    )


HOST_A = DhcpHost("fa:16:3e:00:01:01", ("2001:db8:9::10",), "vm1")
HOST_B = DhcpHost("fa:16:3e:00:01:02", ("2001:db8:9::11",), "vm2")


def daemon_pid(fake, kind: str, netns: str) -> int | None:
    return fake.processes.pid(RUN_DIR / "netns" / netns / f"{kind}.pid")


def test_first_plan_follows_the_agent_order() -> None:
    _fake, agent = new_host()
    actions = current_plan(agent, lab_state())
    kinds = [type(a) for a in actions]
    first = {k: kinds.index(k) for k in reversed(kinds)}
    assert first[AddNamespace] < first[SetSysctls] < first[AddBridge] < first[AddVeth]
    assert first[AddVeth] < first[SetLink] < first[AddAddress] < first[ReplaceRoute]
    assert first[ReplaceRoute] < first[WriteFile] < first[StartDaemon]
    # interface sysctls (accept_dad=0) come after the veth exists and before it is set up
    qr_sysctls = next(
        i
        for i, a in enumerate(actions)
        if isinstance(a, SetSysctls) and a.netns == ROUTER_NS and any(QR in k for k, _ in a.values)
    )
    qr_up = next(i for i, a in enumerate(actions) if isinstance(a, SetLink) and a.name == QR)
    assert first[AddVeth] < qr_sysctls < qr_up


def test_teardown_order_is_reversed() -> None:
    _fake, agent = new_host()
    agent.run_once(lab_state())
    kinds = [type(a) for a in current_plan(agent, EMPTY)]
    assert kinds.index(StopDaemon) < kinds.index(DeleteLink) < kinds.index(DeleteNamespace)
    assert not {AddNamespace, AddVeth, StartDaemon} & set(kinds)


def test_dnsmasq_host_changes_are_a_sighup_and_keep_leases() -> None:
    fake, agent = new_host()
    agent.run_once(lab_state((HOST_A,)))
    pid = daemon_pid(fake, "dnsmasq", DHCP_NS)
    leases = RUN_DIR / "netns" / DHCP_NS / "dnsmasq.leases"
    fake.files.write(leases, "1 2 2001:db8:9::10 vm1 *\n")
    report = agent.run_once(lab_state((HOST_A, HOST_B)))
    assert {type(a) for a in report.applied} == {WriteFile, ReloadDaemon}
    assert daemon_pid(fake, "dnsmasq", DHCP_NS) == pid
    assert fake.processes.signals == [(pid, signal.SIGHUP)]
    assert fake.files.read(leases) is not None


def test_a_dnsmasq_config_change_restarts_it_and_keeps_leases() -> None:
    fake, agent = new_host()
    agent.run_once(lab_state((HOST_A,)))
    pid = daemon_pid(fake, "dnsmasq", DHCP_NS)
    leases = RUN_DIR / "netns" / DHCP_NS / "dnsmasq.leases"
    fake.files.write(leases, "lease\n")
    report = agent.run_once(lab_state((HOST_A,), lease=3600))
    (start,) = [a for a in report.applied if isinstance(a, StartDaemon)]
    assert start.restart and start.kind == "dnsmasq"
    assert daemon_pid(fake, "dnsmasq", DHCP_NS) not in (None, pid)
    assert fake.files.read(leases) == "lease\n"


def test_radvd_config_changes_are_a_sighup() -> None:
    fake, agent = new_host()
    agent.run_once(lab_state())
    pid = daemon_pid(fake, "radvd", ROUTER_NS)
    report = agent.run_once(lab_state(prefixes=2))
    assert {type(a) for a in report.applied} == {WriteFile, ReloadDaemon}
    assert fake.processes.signals == [(pid, signal.SIGHUP)]


def test_a_dead_daemon_is_started_again() -> None:
    fake, agent = new_host()
    agent.run_once(lab_state())
    fake.processes.kill(daemon_pid(fake, "radvd", ROUTER_NS))
    report = agent.run_once(lab_state())
    assert [type(a) for a in report.applied] == [StartDaemon]
    assert daemon_pid(fake, "radvd", ROUTER_NS) is not None


def test_a_workload_tap_is_enslaved_once_it_appears() -> None:
    fake, agent = new_host()
    state = lab_state()
    assert agent.run_once(state).ports[WPORT] == "DOWN"
    fake.kernel.add_namespaces(["vm-of-someone"])
    fake.kernel.apply(
        HOST_NS,
        [AddVeth(HOST_NS, tap_name(WPORT), 1500, "eth0", "vm-of-someone", "fa:16:3e:00:00:03")],
    )
    report = agent.run_once(state)
    assert report.ports == {RPORT: "ACTIVE", DPORT: "ACTIVE", WPORT: "ACTIVE"}
    assert fake.kernel.links[HOST_NS][tap_name(WPORT)].master == BRIDGE
    assert fake.kernel.links[HOST_NS][tap_name(WPORT)].sysctls["disable_ipv6"] == "1"
    down = dataclasses.replace(
        state, ports=tuple(dataclasses.replace(p, admin_up=p.port_id != WPORT) for p in state.ports)
    )
    assert agent.run_once(down).ports[WPORT] == "DOWN"
    assert not fake.kernel.links[HOST_NS][tap_name(WPORT)].up
    # the VM's tap is not ours to delete (its hypervisor does that), even when the port goes
    agent.run_once(EMPTY)
    assert tap_name(WPORT) in fake.kernel.links[HOST_NS]


@pytest.mark.parametrize("host_netns", [HOST_NS, None])
def test_foreign_objects_are_left_alone(host_netns: str | None) -> None:
    fake, agent = new_host(host_netns)
    kernel = fake.kernel
    kernel.add_namespaces(["t6-other", "v6w-not-mine", "v6r-claimed-by-nobody"])
    kernel.apply(host_netns, [AddBridge(host_netns, "br-other", 1500)])
    agent.run_once(lab_state())
    kernel.apply(ROUTER_NS, [AddBridge(ROUTER_NS, "vx-later", 1500)])  # not a qr-/ns- name
    agent.run_once(EMPTY)
    left = {"t6-other"}
    if host_netns:  # a lab agent sweeps only what it claimed; in production names decide
        left |= {host_netns, "v6r-claimed-by-nobody", "v6w-not-mine"}
    assert kernel.namespaces() == left
    assert "br-other" in kernel.links[host_netns]


def test_a_failed_action_stays_pending_and_is_retried_after_a_backoff(monkeypatch) -> None:
    fake, agent = new_host()
    real_write = fake.drivers.sysctls.write
    broken = {"yes": True}

    def flaky(netns, values):
        if broken["yes"] and netns == DHCP_NS and "net.ipv6.conf.default.accept_dad" in values:
            raise CommandError(["sysctl"], 1, "transient")
        real_write(netns, values)

    monkeypatch.setattr(fake.drivers.sysctls, "write", flaky)
    first = agent.run_once(lab_state())
    assert len(first.failed) == 1 and not first.converged
    assert agent.retry_in() is not None
    second = agent.run_once(lab_state())  # still backing off: not retried yet
    assert second.applied == [] and second.pending
    broken["yes"] = False
    monkeypatch.setattr(loop.time, "monotonic", lambda: 1e12)
    third = agent.run_once(lab_state())
    assert third.converged and third.applied
    assert agent.retry_in() is None


def test_run_once_helper_without_a_server(tmp_path) -> None:
    fake, _agent = new_host()
    report = loop.run_once(
        lab_state(), run_dir=RUN_DIR, host_netns=HOST_NS, drivers=fake.drivers, renderers=STAND_IN
    )
    assert report.converged
    assert (
        Agent("h1", host_netns=HOST_NS, run_dir=RUN_DIR, drivers=fake.drivers, renderers=STAND_IN)
        .run_once(lab_state())
        .applied
        == []
    )


def test_host_netns_must_carry_our_prefix() -> None:
    with pytest.raises(ValueError):
        Agent("h1", host_netns="hv1", run_dir=RUN_DIR)


def test_a_config_that_cannot_be_rendered_leaves_its_daemon_alone() -> None:
    fake, agent = new_host()
    agent.run_once(lab_state())
    pid = daemon_pid(fake, "radvd", ROUTER_NS)

    def broken(spec):
        raise ValueError("radvd would refuse this")

    agent.renderers = dataclasses.replace(STAND_IN, radvd=broken)
    report = agent.run_once(lab_state(prefixes=2))
    assert report.applied == [] and report.converged
    assert daemon_pid(fake, "radvd", ROUTER_NS) == pid
