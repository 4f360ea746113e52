#!/usr/bin/env python3
"""What one workload's bind costs the agent's own Python: ``plan`` and ``observe``, in-process.

    PYTHONPATH=src .venv/bin/python bench/agent_pass.py                  # N = 150 and 500
    PYTHONPATH=src .venv/bin/python bench/agent_pass.py --workloads 150 --changes 31
    PYTHONPATH=src .venv/bin/python bench/agent_pass.py --src /path/to/other/src  # a baseline
    PYTHONPATH=src .venv/bin/python bench/agent_pass.py --profile /tmp/pass.prof  # cProfile
    PYTHONPATH=src .venv/bin/python bench/agent_pass.py --real 15  # + observe on real drivers

The world (``tests/unit/test_compiler.py``'s record builders, as ``bench/convergence.py``
builds it through the API): three networks (SLAAC, DHCPv6-stateless, DHCPv6-stateful), each with
an IPv6 subnet, a DHCP port and its own router, N workloads bound to this host (one port each,
in the default security group, whose rules name the group itself), all on one host that is
both the network host and the compute host (radvd, dnsmasq, the metadata proxy). The agent is
the real ``Agent`` on the fake drivers (``drivers.fake``: no root; reads cost what the fake
costs, not ``ip``), holding its state as the client does: the server's delta applied to the
previous state (``agent.client._applied``), so unchanged sections keep their objects.

Each change binds one more workload (its port and its workload record through the server's
live inputs), then times one ``Agent.run_once`` of the new state, recording every call of
``plan`` and ``observe`` it makes: round 1's plan (the new state against the host as last seen),
the later rounds' plans (after applying: the tap is enslaved, then the check round), and the
observes (the pass's first, incremental, and one after each round; the fake drivers' own time
taken out, their calls counted). Medians over the changes (the first warms the memos and is
dropped). ``--real R`` (root) adds the same three observes on this machine's drivers
(``real_observes``), R times. Results: ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _source() -> str:
    """``--src`` (another tree's ``src``, e.g. a baseline worktree), before anything imports."""
    for i, arg in enumerate(sys.argv):
        if arg == "--src" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith("--src="):
            return arg.split("=", 1)[1]
    return str(ROOT / "src")


sys.path.insert(0, _source())
sys.path.insert(1, str(ROOT))  # the compiler tests' record builders

from tests.unit.test_compiler import (  # noqa: E402
    NET_HOST,
    SLAAC,
    STATEFUL,
    STATELESS,
    dhcp_port,
    network,
    port,
    router,
    router_port,
    subnet,
    uid,
)
from tests.unit.test_compiler import workload as workload_record  # noqa: E402

from v6fabric.agent import loop  # noqa: E402
from v6fabric.agent.client import _applied  # noqa: E402
from v6fabric.agent.host import fake_drivers  # noqa: E402
from v6fabric.agent.loop import Agent  # noqa: E402
from v6fabric.compiler import compile_host  # noqa: E402
from v6fabric.compiler.live import LiveInputs  # noqa: E402
from v6fabric.hoststate import codec, sections  # noqa: E402
from v6fabric.hoststate.model import HostState  # noqa: E402
from v6fabric.hoststate.sections import Sections  # noqa: E402

HOST_NS = "v6h-bench"
RUN_DIR = Path("/run/v6fabric-bench-agent-pass")  # the fake files only: nothing is written
MODES = (SLAAC, STATELESS, STATEFUL)
DEFAULT_GROUP = uid("g", 1)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGM bench@host"


def _rule(number: int, direction: str, ethertype: str, remote: str | None) -> dict[str, Any]:
    return {
        "id": uid("u", number),
        "security_group_id": DEFAULT_GROUP,
        "direction": direction,
        "ethertype": ethertype,
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        "remote_ip_prefix": None,
        "remote_group_id": remote,
    }


GROUP = {  # Neutron's default group: in from its own members, out to anywhere
    "id": DEFAULT_GROUP,
    "name": "default",
    "stateful": True,
    "security_group_rules": (
        _rule(1, "ingress", "IPv6", DEFAULT_GROUP),
        _rule(2, "ingress", "IPv4", DEFAULT_GROUP),
        _rule(3, "egress", "IPv6", None),
        _rule(4, "egress", "IPv4", None),
    ),
}
NETWORKS = [network(i + 1) for i in range(len(MODES))]
SUBNETS = [
    subnet(i + 1, net, f"2001:db8:{i + 1}::/64", ra=mode, addr=mode)
    for i, (net, mode) in enumerate(zip(NETWORKS, MODES, strict=True))
]
ROUTERS = [router(i + 1) for i in range(len(MODES))]


def world(count: int) -> LiveInputs:
    live = LiveInputs()
    live.network_hosts = (NET_HOST,)
    live.update("security_groups", {DEFAULT_GROUP: GROUP})
    live.update("networks", {n["id"]: n for n in NETWORKS})
    live.update("subnets", {s["id"]: s for s in SUBNETS})
    live.update("routers", {r["id"]: r for r in ROUTERS})
    legs = []
    for i, (net, sub, rtr) in enumerate(zip(NETWORKS, SUBNETS, ROUTERS, strict=True)):
        legs.append(dhcp_port(10 + i, net, (sub, f"2001:db8:{i + 1}::2")))
        legs.append(router_port(20 + i, rtr, net, (sub, f"2001:db8:{i + 1}::1")))
    live.update("ports", {p["id"]: {**p, "security_groups": []} for p in legs})
    for number in range(count):
        bind(live, number)
    return live


def bind(live: LiveInputs, number: int) -> None:
    """One more workload on this host, with its port: what one ``POST /fabric/v1/workloads``
    binding a port to the host does to the records."""
    i = number % len(MODES)
    wire = port(
        1000 + number,
        NETWORKS[i],
        (SUBNETS[i], f"2001:db8:{i + 1}::{number + 0x100:x}"),
        host=NET_HOST,
        device_id=uid("w", number),
    )
    wire["security_groups"] = [DEFAULT_GROUP]
    data = {
        **workload_record(number, wire, host=NET_HOST),
        "project_id": "p1",
        "user_data": f"#cloud-config\n# vm {number}\n",
        "public_keys": [{"name": "k", "key": KEY}],
        "properties": {},
    }
    live.update("ports", {wire["id"]: wire})
    live.update("workloads", {data["id"]: data})


DRIVER_READS = {  # what observe reads through (timed apart: the fakes' cost is not the host's)
    "netlink": ("namespaces", "read", "read_links"),
    "sysctls": ("read",),
    "files": ("read", "listdir"),
    "processes": ("pid",),
    "workloads": ("plugged",),
    "nftables": ("tables",),
}


class Recorder:
    """Wraps ``loop.plan`` and ``loop.observe``: each call's milliseconds, in order, and the
    milliseconds and calls of the drivers' reads within each observe."""

    def __init__(self, drivers: Any) -> None:
        self.calls: dict[str, list[float]] = {}
        self.reads: dict[str, int] = {}
        self.in_drivers = 0.0
        self.depth = 0
        self.real = {"plan": loop.plan, "observe": loop.observe}
        for group, methods in DRIVER_READS.items():
            driver = getattr(drivers, group)
            for method in methods:
                setattr(driver, method, self._read(f"{group}.{method}", getattr(driver, method)))
        self.clear()

    def clear(self) -> None:
        self.calls = {"plan": [], "observe": [], "observe drivers": []}
        self.reads = {}

    def install(self) -> None:
        for name, real in self.real.items():
            setattr(loop, name, self._timed(name, real))

    def remove(self) -> None:
        for name, real in self.real.items():
            setattr(loop, name, real)

    def _read(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self.depth:  # a fake's read that calls another (read_links -> read)
                return real(*args, **kwargs)
            self.depth += 1
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.depth -= 1
                self.in_drivers += time.perf_counter() - start
                self.reads[name] = self.reads.get(name, 0) + 1

        return timed

    def _timed(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.in_drivers = 0.0
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.calls[name].append((time.perf_counter() - start) * 1000)
                if name == "observe":
                    self.calls["observe drivers"].append(self.in_drivers * 1000)

        return timed


def run(count: int, changes: int, profile: cProfile.Profile | None) -> dict[str, float]:
    live = world(count)
    state = compile_host(live.snapshot_for(NET_HOST), NET_HOST)
    held = Sections.of(state)
    server_memo, agent_memo = sections.encoded, sections._Memo(sections.AGENT_MEMO_BYTES)
    sections.encoded = agent_memo
    try:
        mine: HostState = codec.decode(codec.encode(state))
        agent_held, agent_sections = (mine, codec.content_hash(mine)), None
    finally:
        sections.encoded = server_memo
    fake = fake_drivers(HOST_NS)
    agent = Agent(NET_HOST, host_netns=HOST_NS, run_dir=RUN_DIR, drivers=fake.drivers)
    first = agent.run_once(mine)
    if not first.converged:
        raise SystemExit(f"the first pass did not converge: {first.pending[:3]}")
    figures: dict[str, list[float]] = {}
    recorder = Recorder(fake.drivers)
    for i in range(changes):
        bind(live, count + i)
        new = compile_host(live.snapshot_for(NET_HOST), NET_HOST)
        cut = Sections.of(new, held)
        raw = codec.encode_delta(held, cut, new.revision)
        sections.encoded = agent_memo
        try:
            result = _applied(agent_held, raw, agent_sections)
        finally:
            sections.encoded = server_memo
        if result is None:
            raise SystemExit("the delta did not apply")
        agent_held, agent_sections, held = (result[0], cut.content_hash), result[1], cut
        agent._full_observe_due = time.monotonic() + 3600  # incremental passes only
        recorder.clear()
        recorder.install()
        if profile is not None and i:
            profile.enable()
        try:
            start = time.perf_counter()
            report = agent.run_once(result[0])
            pass_ms = (time.perf_counter() - start) * 1000
        finally:
            if profile is not None:
                profile.disable()
            recorder.remove()
        if not report.converged or report.ports.get(uid("p", 1000 + count + i)) != "ACTIVE":
            raise SystemExit(f"change {i} did not converge: {report.pending[:3]}")
        if i == 0:  # the first of a run warms the memos
            continue
        plans = recorder.calls["plan"]
        observes = [
            total - drivers
            for total, drivers in zip(
                recorder.calls["observe"], recorder.calls["observe drivers"], strict=True
            )
        ]
        for name, value in (
            ("plan, round 1", plans[0]),
            ("plan, later rounds (each)", statistics.mean(plans[1:])),
            ("plan, whole pass", sum(plans)),
            ("plans a pass", len(plans)),
            ("observe w/o drivers, first (incremental)", observes[0]),
            ("observe w/o drivers, after a round (each)", statistics.mean(observes[1:])),
            ("observe w/o drivers, whole pass", sum(observes)),
            *((f"  {name} calls a pass", float(n)) for name, n in sorted(recorder.reads.items())),
            ("pass (fake drivers)", pass_ms),
        ):
            figures.setdefault(name, []).append(value)
    return {name: statistics.median(values) for name, values in figures.items()}


def real_observes(count: int, repeats: int) -> dict[str, float]:
    """``observe`` on this machine's drivers (root): a scratch host namespace with the state's
    bridges and its workloads' taps (veths whose peers wait in a second namespace), then per
    repeat the pass's three incremental observes of a bind: the first (the new workload's tap
    not there yet), then after each of two rounds (its tap there, touched)."""
    import os
    import subprocess
    import tempfile

    from v6fabric.agent import desired as want
    from v6fabric.agent.host import real_drivers
    from v6fabric.agent.layout import Layout
    from v6fabric.agent.observe import Stale, observe, unsettled

    live = world(count)
    before = compile_host(live.snapshot_for(NET_HOST), NET_HOST)
    bind(live, count)
    after = compile_host(live.snapshot_for(NET_HOST), NET_HOST)
    (new,) = [p for p in after.ports if p.port_id == uid("p", 1000 + count)]
    host, peer = f"v6h-bp{os.getpid()}", f"t7-bp{os.getpid()}-peer"
    drivers = real_drivers()

    def ip(netns: str, lines: list[str]) -> None:
        text = "".join(f"{line}\n" for line in lines)
        subprocess.run(["ip", "-n", netns, "-batch", "-"], input=text, text=True, check=True)

    def plug(ports: list[Any]) -> None:
        ip(host, [f"link add {p.tap} type veth peer name {p.tap[3:]} netns {peer}" for p in ports])
        drivers.sysctls.write(host, {f"net.ipv6.conf.{p.tap}.disable_ipv6": "1" for p in ports})
        ip(host, [f"link set {p.tap} master {want.bridge_of(after, p)} up" for p in ports])

    figures: dict[str, list[float]] = {}
    drivers.netlink.add_namespaces([host, peer])
    try:
        with tempfile.TemporaryDirectory(prefix="v6f-bench-pass-") as run_dir:
            layout = Layout(Path(run_dir), host)
            nets = want.networks(before)
            ip(
                host,
                [f"link add {b} type bridge" for b in nets] + [f"link set {b} up" for b in nets],
            )
            drivers.sysctls.write(host, {f"net.ipv6.conf.{b}.disable_ipv6": "1" for b in nets})
            plug([p for p in before.ports if p.kind == "workload"])
            seen = observe(drivers, layout, before)  # the last full read
            one = Stale(links={host: {new.tap}})
            for _ in range(repeats):
                times = []
                for stale in (unsettled(after, seen), one, one):
                    if len(times) == 1:
                        plug([new])  # round 1 plugged it
                    start = time.perf_counter()
                    seen = observe(drivers, layout, after, previous=seen, stale=stale)
                    times.append((time.perf_counter() - start) * 1000)
                ip(host, [f"link del {new.tap}"])
                seen = observe(drivers, layout, before, previous=seen, stale=one)
                for name, value in (("real observe, first", times[0]),
                                    ("real observe, after a round (each)", (times[1] + times[2]) / 2),
                                    ("real observe, whole pass (3)", sum(times))):  # fmt: skip
                    figures.setdefault(name, []).append(value)
    finally:
        for name in (host, peer):
            drivers.netlink.delete_namespace(name)
    return {name: statistics.median(values) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workloads", type=int, nargs="+", default=[150, 500])
    parser.add_argument("--changes", type=int, default=31, help="per world (the first warms)")
    parser.add_argument("--src", default=None, help="import v6fabric from this src directory")
    parser.add_argument("--profile", default=None, help="write a cProfile of the passes here")
    parser.add_argument("--real", type=int, default=0, metavar="R",
                        help="also R repeats of observe on this machine's drivers (root)")  # fmt: skip
    args = parser.parse_args()
    import v6fabric

    print(f"v6fabric from {Path(v6fabric.__file__).parent}")
    profile = cProfile.Profile() if args.profile else None
    print(f"| {'N':>5} | {'figure (median of one more workload, ms)':<44} | {'value':>8} |")
    print(f"|{'-' * 7}|{'-' * 46}|{'-' * 10}|")
    for count in args.workloads:
        found = run(count, args.changes, profile)
        if args.real:
            found.update(real_observes(count, args.real))
        for name, value in found.items():
            print(f"| {count:>5} | {name:<44} | {value:>8.2f} |")
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"profile: {args.profile}")


if __name__ == "__main__":
    main()
