"""The agent's pure diff (``reconcile.plan``) against the fake drivers, with hypothesis.

Properties: the plan does not depend on the order of a ``HostState``'s tuples; applying it
converges (the next plan is empty, a second pass writes nothing); any state can follow any
other; the empty state leaves nothing of ours behind; foreign objects are never touched.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v6fabric.agent.desired import Renderers
from v6fabric.agent.host import FakeHost, fake_drivers
from v6fabric.agent.loop import Agent
from v6fabric.agent.observe import observe
from v6fabric.agent.reconcile import plan
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
    WorkloadInterface,
    WorkloadSpec,
    bridge_name,
    dhcp_namespace,
    router_namespace,
    tap_name,
    workload_namespace,
)

HOST_NS = "v6h-unit"
RUN_DIR = Path("/run/v6fabric-unit")


def _conf(spec: object, **paths: object) -> str:
    return f"conf {spec!r} {sorted((k, str(v)) for k, v in paths.items())}\n"


# Stand-ins: the plan only needs deterministic text per spec (the real renderers have their
# own golden tests).
STAND_IN = Renderers(
    radvd=lambda spec: f"radvd {spec!r}\n",
    dnsmasq_conf=lambda spec, **paths: _conf((spec.interface, spec.ranges), **paths),
    dnsmasq_hosts=lambda spec: f"hosts {spec.hosts!r}\n",
    dnsmasq_opts=lambda spec: f"opts {spec.options!r}\n",
)

NET_IDS = ["aaaa1111", "bbbb2222", "cccc3333"]
ROUTER_IDS = ["r1", "r2"]
WORKLOAD_IDS = ["w1", "w2"]


def port_id(*parts: str) -> str:
    return "".join(parts).ljust(11, "0")[:11] + "-port"


def mac(n: int) -> str:
    return f"fa:16:3e:00:{n >> 8:02x}:{n & 255:02x}"


@st.composite
def host_states(draw: st.DrawFn) -> HostState:
    """Consistent HostStates: networks, routers with several prefixes a port, DHCP namespaces
    with dnsmasq and/or radvd, and workloads with one or two NICs."""
    nets = draw(st.lists(st.sampled_from(NET_IDS), unique=True, max_size=3))
    index = {n: NET_IDS.index(n) + 1 for n in nets}
    networks = [NetworkSpec(n, bridge_name(n), draw(st.sampled_from([1500, 1450]))) for n in nets]
    mtu = {n.network_id: n.mtu for n in networks}
    ports: list[PortSpec] = []
    namespaces: list[NamespaceSpec] = []
    radvd: list[RadvdSpec] = []
    dnsmasq: list[DnsmasqSpec] = []
    workloads: list[WorkloadSpec] = []
    counter = iter(range(1, 1000))
    for router in draw(st.lists(st.sampled_from(ROUTER_IDS), unique=True)):
        ns = router_namespace(router)
        ifaces, routes = [], []
        for net in draw(st.lists(st.sampled_from(nets), unique=True)) if nets else []:
            i = index[net]
            pid = port_id("r", router, net)
            ifname = "qr-" + pid[:11]
            addresses = [f"2001:db8:{i}::1/64"]
            if draw(st.booleans()):
                addresses.append(f"2001:db8:{i}:1::1/64")
            if draw(st.booleans()):
                addresses.append(f"10.{i}.0.1/24")
            ports.append(
                PortSpec(
                    pid,
                    net,
                    "router",
                    tap_name(pid),
                    mac(next(counter)),
                    mtu[net],
                    draw(st.booleans()),
                    ns,
                    ifname,
                    tuple(addresses),
                )
            )
            prefixes = tuple(RaPrefix(f"2001:db8:{i}::/64", True) for _ in [0])
            ifaces.append(RaInterface(ifname, False, draw(st.booleans()), mtu[net], prefixes))
            if draw(st.booleans()):
                routes.append(RouteSpec(f"2001:db8:f{i}::/48", f"2001:db8:{i}::fe"))
        if ifaces and draw(st.booleans()):
            first = next(p for p in ports if p.ifname == ifaces[0].ifname)
            gateway = str(ipaddress.ip_interface(first.addresses[0]).network[255])
            routes.append(
                RouteSpec("::/0", gateway)
                if draw(st.booleans())
                else RouteSpec("::/0", None, first.ifname)
            )
        uplink = None
        if nets and draw(st.booleans()):  # an external gateway leg (qg-), maybe no address
            net = draw(st.sampled_from(nets))
            pid = port_id("g", router, net)
            ifname = "qg-" + pid[:11]
            found = draw(st.sampled_from([(), (f"2001:db8:{index[net]}:ff::5/64",)]))
            leg = PortSpec(pid, net, "router", tap_name(pid), mac(next(counter)), mtu[net])
            ports.append(dataclasses.replace(leg, namespace=ns, ifname=ifname, addresses=found))
            if any(r.destination == "::/0" for r in routes):
                pass  # an extra default route: no RA route
            elif draw(st.booleans()):
                uplink = ifname  # the default route from the upstream's RAs
            else:  # a configured upstream link-local: needs the device
                routes.append(RouteSpec("::/0", "fe80::1", ifname))
        namespaces.append(NamespaceSpec(ns, draw(st.booleans()), tuple(routes), uplink))
        if ifaces and draw(st.booleans()):
            radvd.append(RadvdSpec(ns, tuple(ifaces)))
    for net in nets:
        if not draw(st.booleans()):
            continue
        i, ns = index[net], dhcp_namespace(net)
        pid = port_id("d", net)
        ifname = "ns-" + pid[:11]
        ports.append(
            PortSpec(
                pid,
                net,
                "dhcp",
                tap_name(pid),
                mac(next(counter)),
                mtu[net],
                True,
                ns,
                ifname,
                (f"2001:db8:{i}::2/64",),
            )
        )
        namespaces.append(NamespaceSpec(ns))
        if draw(st.booleans()):
            hosts = tuple(
                DhcpHost(mac(500 + k), (f"2001:db8:{i}::{k + 10:x}",), f"vm{k}")
                for k in range(draw(st.integers(0, 2)))
            )
            dhcp_range = DhcpRange(f"subnet-{net}", 6, f"2001:db8:{i}::", 64)
            dnsmasq.append(DnsmasqSpec(ns, net, ifname, (dhcp_range,), hosts))
        if draw(st.booleans()):
            ra = RaInterface(ifname, True, True, mtu[net], (), default_lifetime=0)
            radvd.append(RadvdSpec(ns, (ra,)))
    for workload in draw(st.lists(st.sampled_from(WORKLOAD_IDS), unique=True)) if nets else []:
        nics = []
        for k, net in enumerate(
            draw(st.lists(st.sampled_from(nets), unique=True, min_size=1, max_size=2))
        ):
            pid = port_id("w", workload, net)
            nic = WorkloadInterface(pid, f"eth{k}", tap_name(pid), mac(next(counter)), mtu[net])
            nics.append(nic)
            ports.append(
                PortSpec(pid, net, "workload", nic.tap, nic.mac, nic.mtu, draw(st.booleans()))
            )
        workloads.append(
            WorkloadSpec(workload, workload, workload_namespace(workload), tuple(nics))
        )
    return HostState(
        "h1",
        draw(st.integers(1, 99)),
        tuple(networks),
        tuple(ports),
        tuple(namespaces),
        tuple(radvd),
        tuple(dnsmasq),
        tuple(workloads),
    )


def shuffled(state: HostState, rng: random.Random) -> HostState:
    def mix(items: tuple) -> tuple:
        items = list(items)
        rng.shuffle(items)
        return tuple(items)

    return dataclasses.replace(
        state,
        networks=mix(state.networks),
        ports=mix(state.ports),
        namespaces=mix(state.namespaces),
        radvd=mix(state.radvd),
        dnsmasq=mix(state.dnsmasq),
        workloads=mix(state.workloads),
    )


def new_host(host_netns: str | None = HOST_NS) -> tuple[FakeHost, Agent]:
    fake = fake_drivers(host_netns)
    agent = Agent(
        "h1", host_netns=host_netns, run_dir=RUN_DIR, drivers=fake.drivers, renderers=STAND_IN
    )
    return fake, agent


def current_plan(agent: Agent, state: HostState) -> list:
    return plan(state, observe(agent.drivers, agent.layout, state), renderers=STAND_IN)


def assert_nothing_of_ours(fake: FakeHost, host_netns: str | None = HOST_NS) -> None:
    assert fake.kernel.namespaces() == ({host_netns} if host_netns else set())
    assert set(fake.kernel.links[host_netns]) <= {"lo"}
    assert fake.processes.running == {}
    assert fake.files.data == {}


EMPTY = HostState("h1", 0)
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(state=host_states(), before=host_states(), seed=st.integers(0, 2**32))
def test_plan_does_not_depend_on_the_order_of_the_state(
    state: HostState, before: HostState, seed: int
) -> None:
    _fake, agent = new_host()
    agent.run_once(before)  # some unrelated objects already there
    observed = observe(agent.drivers, agent.layout, state)
    expected = plan(state, observed, renderers=STAND_IN)
    for k in range(3):
        other = shuffled(state, random.Random(seed + k))
        assert plan(other, observed, renderers=STAND_IN) == expected


@FAST
@given(state=host_states())
def test_build_up_converges_then_tear_down_leaves_nothing(state: HostState) -> None:
    fake, agent = new_host()
    report = agent.run_once(state)
    assert report.converged, report.failed
    assert current_plan(agent, state) == []
    for port in state.ports:
        assert report.ports[port.port_id] == ("ACTIVE" if port.admin_up else "DOWN"), port
    assert report.workloads == {w.workload_id: "ACTIVE" for w in state.workloads}
    assert len(fake.processes.running) == len(state.radvd) + len(state.dnsmasq)

    writes = (fake.kernel.writes, fake.files.writes, fake.processes.starts)
    again = agent.run_once(state)
    assert again.applied == [] and again.rounds == 0
    assert (fake.kernel.writes, fake.files.writes, fake.processes.starts) == writes

    teardown = agent.run_once(EMPTY)
    assert teardown.converged, teardown.failed
    assert_nothing_of_ours(fake)


@FAST
@given(first=host_states(), second=host_states())
def test_any_state_can_follow_any_other(first: HostState, second: HostState) -> None:
    fake, agent = new_host()
    agent.run_once(first)
    report = agent.run_once(second)
    assert report.converged, report.failed
    assert current_plan(agent, second) == []
    assert agent.run_once(EMPTY).converged
    assert_nothing_of_ours(fake)


@FAST
@given(state=host_states())
def test_a_restarted_agent_changes_nothing(state: HostState) -> None:
    fake, agent = new_host()
    agent.run_once(state)
    pids = dict(fake.processes.running)
    fresh = Agent(
        "h1", host_netns=HOST_NS, run_dir=RUN_DIR, drivers=fake.drivers, renderers=STAND_IN
    )
    assert fresh.run_once(state).applied == []
    assert fake.processes.running == pids and fake.processes.signals == []


@settings(max_examples=30, deadline=None)
@given(state=host_states())
def test_the_root_namespace_as_hypervisor(state: HostState) -> None:
    fake, agent = new_host(None)
    assert agent.run_once(state).converged
    assert current_plan(agent, state) == []
    assert agent.run_once(EMPTY).converged
    assert_nothing_of_ours(fake, None)
