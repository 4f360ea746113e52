#!/usr/bin/env python3
"""One port added in a fabric of many hosts: what each host's state changes by (issue 6).

    PYTHONPATH=src .venv/bin/python bench/fabric_fanout.py                 # 5 hosts, 2,000 ports
    PYTHONPATH=src .venv/bin/python bench/fabric_fanout.py --hosts 5 --ports 2000 --adds 21

The server's side, in-process, as it runs: the live inputs (``compiler.live``) of a fabric of
``--hosts`` hosts with IPv6 tunnel endpoints (host 1 also the network host: every DHCP and
router namespace), ``--networks`` VXLAN networks (SLAAC subnet, DHCP port, a router each) and
``--ports`` workload ports, each with its workload. Network ``i`` has its workloads on two
hosts only (``i`` and ``i + 1`` modulo the hosts), as a scheduler that packs a tenant's VMs
would; so a port's change concerns the hosts of its network and the network host, and no
other. Each of ``--adds`` changes (the first warms the memos and is dropped) binds one more
port and workload to a host, then every host is compiled again (``compile_host`` of
``snapshot_for``, then ``CompiledState.of`` with the previous state, as the state cache does).

Printed per host: whether its ETag changed (it wakes its agent only then), the delta's size
and sections (``codec.encode_delta``: what its agent receives), the items that differ (ports,
workloads, fdb entries, dnsmasq hosts, metadata entries), the actions of the host's agent (the
real ``Agent`` on fake drivers, converged on the state before: what it would write), and the
compile time. Target (the issue): only the hosts that need
the change write anything, and each writes O(1) objects.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(1, str(ROOT))  # the compiler tests' record builders

from tests.unit.test_compiler import (  # noqa: E402
    SLAAC,
    dhcp_port,
    network,
    port,
    router,
    router_port,
    subnet,
    uid,
)
from tests.unit.test_compiler import workload as workload_record  # noqa: E402

from v6fabric.agent.host import fake_drivers  # noqa: E402
from v6fabric.agent.loop import Agent  # noqa: E402
from v6fabric.agent.statuses import summarise  # noqa: E402
from v6fabric.api.fabric.state_cache import CompiledState  # noqa: E402
from v6fabric.compiler import compile_host  # noqa: E402
from v6fabric.compiler.live import LiveInputs  # noqa: E402
from v6fabric.hoststate.model import HostState  # noqa: E402

FAKE_RUN = Path("/run/v6fabric-bench-fanout")  # the fake drivers' paths: nothing is written


def host_name(i: int) -> str:
    return f"host{i + 1}"


class Fabric:
    def __init__(self, hosts: int, networks: int) -> None:
        self.hosts = [host_name(i) for i in range(hosts)]
        self.live = LiveInputs()
        self.live.network_hosts = (self.hosts[0],)
        self.live.tunnel_endpoints = {h: f"fd00:99::{i + 1:x}" for i, h in enumerate(self.hosts)}
        self.networks = [network(i + 1) for i in range(networks)]
        self.subnets = [
            subnet(i + 1, net, f"2001:db8:{i + 1:x}::/64", ra=SLAAC, addr=SLAAC)
            for i, net in enumerate(self.networks)
        ]
        routers = [router(i + 1) for i in range(networks)]
        self.live.update("networks", {n["id"]: n for n in self.networks})
        self.live.update("subnets", {s["id"]: s for s in self.subnets})
        self.live.update("routers", {r["id"]: r for r in routers})
        legs = {}
        for i, (net, sub, rtr) in enumerate(zip(self.networks, self.subnets, routers, strict=True)):
            for leg in (
                dhcp_port(60_000 + i, net, (sub, f"2001:db8:{i + 1:x}::2")),
                router_port(61_000 + i, rtr, net, (sub, f"2001:db8:{i + 1:x}::1")),
            ):
                leg["binding:host_id"] = self.hosts[0]
                legs[leg["id"]] = leg
        self.live.update("ports", legs)
        self.count = 0

    def bind(self) -> tuple[str, int]:
        """One more workload port: network ``n % networks``, on one of that network's two
        hosts. Returns (host, network index)."""
        number = self.count
        self.count += 1
        i = number % len(self.networks)
        host = self.hosts[(i + (number // len(self.networks)) % 2) % len(self.hosts)]
        net, sub = self.networks[i], self.subnets[i]
        wire = port(
            1 + number,
            net,
            (sub, f"2001:db8:{i + 1:x}::{number + 0x100:x}"),
            host=host,
            device_id=uid("w", number),
        )
        record = {**workload_record(number, wire, host=host), "project_id": "p1"}
        self.live.update("ports", {wire["id"]: wire})
        self.live.update("workloads", {record["id"]: record})
        self.live.revision += 1
        return host, i


def differing(old: HostState, new: HostState) -> dict[str, int]:
    """Items of each per-item part that differ between two states (added, removed, changed)."""
    found: dict[str, int] = {}
    parts: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
        "ports": (old.ports, new.ports),
        "workloads": (old.workloads, new.workloads),
        "fdb": (old.fdb, new.fdb),
        "networks": (old.networks, new.networks),
        "dnsmasq hosts": (
            tuple(h for d in old.dnsmasq for h in d.hosts),
            tuple(h for d in new.dnsmasq for h in d.hosts),
        ),
        "metadata ports": (
            tuple(p for b in old.metadata.port_buckets for p in b.ports),
            tuple(p for b in new.metadata.port_buckets for p in b.ports),
        ),
    }
    for name, (before, after) in parts.items():
        found[name] = len(set(before) ^ set(after))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--ports", type=int, default=2000)
    parser.add_argument("--adds", type=int, default=21, help="changes measured (first warms)")
    args = parser.parse_args()
    fabric = Fabric(args.hosts, args.networks)
    started = time.perf_counter()
    for _ in range(args.ports):
        fabric.bind()
    compiled = {
        h: CompiledState.of(compile_host(fabric.live.snapshot_for(h), h)) for h in fabric.hosts
    }
    print(
        f"fabric: {args.hosts} hosts (IPv6 endpoints), {args.networks} VXLAN networks, "
        f"{args.ports} workload ports, each network's on 2 hosts; built and compiled in "
        f"{time.perf_counter() - started:.1f} s"
    )
    for host in fabric.hosts:
        state = compiled[host].state
        print(
            f"  {host}: {len(state.ports)} ports, {len(state.workloads)} workloads, "
            f"{len(state.fdb)} fdb entries, {len(compiled[host].body) / 1e6:.2f} MB whole"
        )
    agents = {}
    for i, host in enumerate(fabric.hosts):  # each host's agent on fake drivers, converged
        netns = f"v6h-fanout{i + 1}"
        agent = Agent(
            host, host_netns=netns, run_dir=FAKE_RUN / host, drivers=fake_drivers(netns).drivers
        )
        agent.run_once(compiled[host].state)
        first = agent.run_once(compiled[host].state)
        if not first.converged or first.applied:
            raise SystemExit(f"{host}: the agent did not converge: {first.pending[:3]}")
        agent._full_observe_due = time.monotonic() + 3600  # incremental passes, as in a run
        agents[host] = agent
    applied_kinds: dict[str, dict[str, int]] = {h: {} for h in fabric.hosts}
    rows: dict[str, dict[str, list[float]]] = {h: {} for h in fabric.hosts}
    concerned: list[int] = []
    for n in range(args.adds):
        bound_to, index = fabric.bind()
        hosts_of_network = {fabric.hosts[(index + k) % args.hosts] for k in (0, 1)}
        changed_hosts = 0
        for host in fabric.hosts:
            t0 = time.perf_counter()
            state = compile_host(fabric.live.snapshot_for(host), host)
            new = CompiledState.of(state, compiled[host])
            took = time.perf_counter() - t0
            old = compiled[host]
            compiled[host] = new
            if n == 0:
                continue
            woke = new.etag != old.etag
            changed_hosts += woke
            delta = new.delta(old) if woke else b""
            cells = rows[host]
            cells.setdefault("woken", []).append(float(woke))
            cells.setdefault("delta kB", []).append(len(delta) / 1000)
            cells.setdefault("sections", []).append(
                float(len(new.sections.changes_since(old.sections)[0]))
            )
            for name, count in differing(old.state, new.state).items():
                cells.setdefault(name, []).append(float(count))
            cells.setdefault("compile ms", []).append(took * 1000)
            report = agents[host].run_once(state)
            cells.setdefault("agent actions", []).append(float(len(report.applied)))
            for kind, count in summarise(report.applied).items():
                applied_kinds[host][kind] = max(applied_kinds[host].get(kind, 0), count)
            cells.setdefault("concerned", []).append(
                float(host in hosts_of_network or host == fabric.hosts[0] or host == bound_to)
            )
        if n:
            concerned.append(changed_hosts)
    columns = [
        "concerned",
        "woken",
        "delta kB",
        "sections",
        "ports",
        "workloads",
        "fdb",
        "networks",
        "dnsmasq hosts",
        "metadata ports",
        "agent actions",
        "compile ms",
    ]
    print(
        f"\none port + workload bound, {args.adds - 1} times; 'concerned' and 'woken': the share of adds that concern the host (its network's or the network host) and that changed its ETag; delta: median, sections and items: the most, over the adds that woke it; compile: median over all"
    )
    print("| host | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for host in fabric.hosts:
        cells = rows[host]
        woke = [i for i, w in enumerate(cells["woken"]) if w]
        values = []
        for column in columns:
            data = cells.get(column, [0.0])
            if column in ("woken", "concerned"):
                values.append(f"{statistics.mean(data):.2f}")
            elif column == "compile ms":
                values.append(f"{statistics.median(data):.2f}")
            else:  # what a woken agent receives and may write: over the adds that woke it
                picked = [data[i] for i in woke] or [0.0]
                value = statistics.median(picked) if column == "delta kB" else max(picked)
                values.append(f"{value:.2f}" if column == "delta kB" else f"{value:.0f}")
        print(f"| {host} | " + " | ".join(values) + " |")
    woken = [statistics.mean(rows[h]["woken"]) for h in fabric.hosts]
    need = [statistics.mean(rows[h]["concerned"]) for h in fabric.hosts]
    extra = sum(max(0.0, w - c) for w, c in zip(woken, need, strict=True))
    biggest = max(
        max([rows[h][name][i] for i, w in enumerate(rows[h]["woken"]) if w] or [0])
        for h in fabric.hosts
        for name in ("ports", "workloads", "fdb", "dnsmasq hosts", "metadata ports")
    )
    actions = max(
        max([rows[h]["agent actions"][i] for i, w in enumerate(rows[h]["woken"]) if w] or [0])
        for h in fabric.hosts
    )
    idle = max(
        max([rows[h]["agent actions"][i] for i, w in enumerate(rows[h]["woken"]) if not w] or [0])
        for h in fabric.hosts
    )
    print("\nthe agents' actions (fake drivers: what each would write), the most per add by kind:")
    for host in fabric.hosts:
        print(f"  {host}: {applied_kinds[host]}")
    print(
        f"\nhosts woken per add: median {statistics.median(concerned):.0f} of {args.hosts}; "
        f"woken without being concerned: {extra:.2f} (target 0: "
        f"{'PASS' if extra == 0 else 'FAIL'}); items that differ on a woken host, "
        f"at most: {biggest:.0f}; an agent's actions for an add, at most: {actions:.0f} "
        f"(target O(1): {'PASS' if biggest <= 3 and actions <= 12 else 'FAIL'}); actions of "
        f"agents not woken: {idle:.0f} (target 0: {'PASS' if idle == 0 else 'FAIL'})"
    )


if __name__ == "__main__":
    main()
