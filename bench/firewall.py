#!/usr/bin/env python3
"""Firewall benchmark: what security groups cost per packet, and how fast a change is enforced.

Two parts, both on this machine's kernel and nftables (issue 4, "Benchmarks"):

1. **dataplane** (no server, no agent; like ``tests/e2e/test_nft_ruleset.py``): a host
   namespace with one bridge and three workload namespaces on veths (``a`` the server, ``b`` the
   client, ``x`` a non-member for the negative control), all named ``v6bench-fw-<tag>-*``.
   Rulesets come from ``render_ruleset(FirewallSpec(...))`` and are loaded with ``nft -f`` in
   the host namespace, with br_netfilter's ``bridge-nf-call-ip6tables/iptables=1`` as the agent
   sets them. Four cases, interleaved in every repeat, medians reported:

   (a) no filtering (our tables removed);
   (b) the default group: ``a`` and ``b`` in a group with Neutron's default rules (egress any,
       ingress from the group itself: a remote-group set of two members);
   (c) the same group plus 10,000 rules (``ingress tcp dport 20000..29999``, any remote): they
       sort before the remote-group rule, so a new flow walks all 10,000 before it matches;
   (d) the default group with 100,000 members (``a``, ``b`` and 99,998 others) in its set.

   The order of the cases rotates from one repeat to the next.

   Per case: TCP throughput (iperf3, one stream), packet rate (iperf3 UDP, 64-byte payloads,
   unlimited rate, packets received per second), and new TCP connections per second (a Python
   client connecting and resetting in a loop: every SYN is a new conntrack entry and walks the
   port's chain; established packets are accepted by the first rule, so only this figure sees
   the rule count). Before each case's measurements, ``x`` (in no group of ``a``) must fail to
   connect to ``a`` in (b)-(d) and succeed in (a): the ruleset is really in force.

2. **latency** (the product): the server (``v6fabric up --no-agent``) and the real agent in its
   own process (``--agent-child``: what ``v6fabric agent`` builds, plus timing wrappers around
   its passes, the state fetch, rendering and ``nft`` loads), one host namespace, one SLAAC
   network and three workloads: ``S`` (group SRV), ``C`` (group MEM) and ``W`` (port security
   off: it may send from any address, playing a member on another host). SRV allows UDP 7000
   from remote group MEM. Enforcement is proven by traffic: a sender in ``C`` or ``W`` sends a
   datagram every 2 ms to a UDP port of ``S`` from before the API call (the flow is checked to
   be dropped first), and a receiver in ``S`` records the first that arrives:

   * **new rule**: ``POST /v2.0/security-group-rules`` (SRV, ingress UDP port P, remote group
     MEM) with a port P nothing allowed before; ``C`` (a member) sends to P;
   * **new member port**: ``POST /v2.0/ports`` (unbound, group MEM, a MAC chosen so that its
     SLAAC address is known in advance); ``W`` sends from that address to port 7000.

   latency = first datagram received by ``S`` - the 201 (the sender's 2 ms period bounds the
   error). Measured at several memberships of MEM, grown with bulk creates (``{"ports": [...]}``)
   of unbound ports in MEM: 100, 10,000, then as many as the bulk creates reach in what is left
   of ``--fill-seconds`` (180 s of fills in all; the target is 100,000). For fills beyond
   ``--pause-above`` (10,000) the agent is paused (SIGSTOP) and catches up afterwards: running,
   it makes the server compile the whole store after every request. Before each level the
   agent must have settled, and the server's compile is timed (a ``GET`` of the host state
   after a write that does not change it, with a ``GET /`` sent meanwhile: the API stalls
   while a state compiles), and at the end broken down in-process on the server's database.
   Each sample is split with the agent's events:
   201 -> the server publishes the state (a second long-poll client, the "watcher") -> the agent
   has it (decoded) -> its pass (observe, plan with the renders, the ``nft`` load) -> first
   datagram through.

    .venv/bin/python bench/firewall.py             # full run (~9 min)
    .venv/bin/python bench/firewall.py --quick     # ~45 s: 1 repeat, memberships 100 and 1,000
    .venv/bin/python bench/firewall.py --part dataplane   # or --part latency
    # options: --repeats N, --members 100,10000,max, --fill-seconds S, --samples N,
    #          --keep-work, --strict (exit 1 on a missed target)

Nothing asserts; the tables mark targets PASS or FAIL (``--strict`` exits 1 on a FAIL). Every
namespace is named after the run's tag and removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import platform
import queue
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from api_ports import (  # noqa: E402  (the sibling benchmarks: server, login, statistics)
    Row,
    Server,
    Session,
    load_note,
    login,
    machine_busy_seconds,
    ms,
    percentile,
    read_openrc,
    start_server,
)
from convergence import (  # noqa: E402
    AgentProcess,
    Api,
    Probe,
    _set_pdeathsig,
    force_clean,
    namespaces,
    now,
    openrc_env,
    print_table,
    proc_status_kb,
    run_quiet,
    unlimited_quotas,
    wait_until,
)
from convergence import agent_child as convergence_agent_child  # noqa: E402

from v6fabric.hoststate.firewall import (  # noqa: E402
    AllowedAddress,
    FirewallNetwork,
    FirewallPort,
    FirewallSpec,
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from v6fabric.render.nftables import render_removal, render_ruleset  # noqa: E402

# The issue's targets.
TARGET_WITHIN = 0.10  # (c) and (d) within 10 % of (b)
TARGET_LATENCY_P99_MS = 50.0  # API 201 -> enforced on the host, at 100,000 members
TARGET_MEMBERS = 100_000

PROBE_INTERVAL = 0.002  # a datagram every 2 ms
PROBE_PORT = 7000  # the member samples' port (SRV: udp 7000 from MEM)
RULE_PORTS = 7001  # the rule samples' ports: 7001, 7002, ...
MAX_RULE_SAMPLES = 400
BLOCKED_CHECK = 0.06  # the flow must be dropped for this long before the API call
BULK = 500  # ports per bulk create
NS_PREFIX = "v6bench-fw-"


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def p99(values: list[float]) -> float:
    return percentile([v for v in values if v == v], 99)


def run(argv: list[str], *, timeout: float = 120, input: str | None = None) -> str:
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=timeout, input=input
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}... -> {done.returncode}: {done.stderr[-600:]}")
    return done.stdout


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def remove_namespaces(prefix: str) -> list[str]:
    """Kill what runs in every namespace whose name starts with ``prefix``, then delete it."""
    gone = []
    for name in sorted(n for n in namespaces() if n.startswith(prefix)):
        for word in run_quiet(["ip", "netns", "pids", name]).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(word), signal.SIGKILL)
        run_quiet(["ip", "netns", "delete", name])
        gone.append(name)
    return gone


# --- small programs run inside the namespaces (python -c) --------------------------------------

# UDP receiver on ports lo..hi (one socket each): prints "got ID SEQ T" for the first datagram of
# each probe ID (T: CLOCK_MONOTONIC, the same clock in every namespace), and echoes every one.
_RECEIVER = r"""
import selectors, socket, sys, time
lo, hi = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
for port in range(lo, hi + 1):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
seen = set()
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        while True:
            try:
                data, peer = key.fileobj.recvfrom(256)
            except BlockingIOError:
                break
            t = time.monotonic()
            words = data.split()
            if len(words) >= 2 and words[0] not in seen:
                seen.add(words[0])
                print("got", words[0].decode(), words[1].decode(), repr(t), peer[0], flush=True)
            try:
                key.fileobj.sendto(data, peer)
            except OSError:
                pass
"""

# UDP sender driven by lines on stdin: "go ID SRC DST PORT" sends "ID SEQ" from SRC every
# PROBE_INTERVAL until "stop ID"; prints "sent ID SEQ T" for the first one.
_SENDER = r"""
import socket, sys, threading, time
interval = float(sys.argv[1])
running = {}
def send(pid, src, dst, port, stop):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((src, 0))
    seq, tick = 0, time.monotonic()
    while not stop.is_set():
        try:
            s.sendto(f"{pid} {seq}".encode(), (dst, port))
        except OSError:
            pass
        if seq == 0:
            print("sent", pid, seq, repr(time.monotonic()), flush=True)
        seq += 1
        tick += interval
        time.sleep(max(0.0, tick - time.monotonic()))
    s.close()
print("ready", flush=True)
for line in sys.stdin:
    words = line.split()
    if words[:1] == ["go"]:
        stop = threading.Event()
        running[words[1]] = stop
        threading.Thread(target=send, args=(words[1], words[2], words[3], int(words[4]), stop),
                         daemon=True).start()
    elif words[:1] == ["stop"] and words[1] in running:
        running.pop(words[1]).set()
"""

# TCP acceptor: accepts and closes, forever.
_ACCEPTOR = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(4096)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""

# TCP connector: connect + reset (SO_LINGER 0: no TIME_WAIT, the conntrack entry dies in 10 s)
# for SECONDS; prints {"n": connections, "failed": ..., "seconds": ...}. SECONDS 0: one try.
_CONNECTOR = r"""
import json, socket, struct, sys, time
addr, port, seconds, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
linger = struct.pack("ii", 1, 0)
n = failed = 0
t0 = time.monotonic()
while True:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        n += 1
    except OSError:
        failed += 1
    s.close()
    if time.monotonic() - t0 >= seconds:
        break
print(json.dumps({"n": n, "failed": failed, "seconds": time.monotonic() - t0}))
"""


class LineProcess:
    """A child whose stdout lines are collected by a thread (``lines`` queue)."""

    def __init__(self, argv: list[str], *, stdin: bool = False) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=_set_pdeathsig,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((now(), line.strip()))

    def wait_for(self, word: str, timeout: float) -> list[str] | None:
        deadline = now() + timeout
        while (left := deadline - now()) > 0:
            try:
                _, line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line.split()[:1] == [word]:
                return line.split()
        return None

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)


# =================================================================================================
# Part 1: the dataplane, rulesets loaded by hand
# =================================================================================================

NET = "f1f1f1f1-0000-4000-8000-000000000001"
DEFAULT_GROUP = "defa0000-0000-4000-8000-00000000000d"
EGRESS_ONLY = "e0e00000-0000-4000-8000-00000000000e"
LAB_MAC = {"a": "fa:16:3e:fb:00:0a", "b": "fa:16:3e:fb:00:0b", "x": "fa:16:3e:fb:00:0c"}
LAB_GUA = {"a": "2001:db8:fb::a", "b": "2001:db8:fb::b", "x": "2001:db8:fb::c"}
IPERF_PORT, CONNECT_PORT = 5201, 5202
EXTRA_RULES = 10_000
EXTRA_RULE_PORTS = 20_000  # tcp dport 20000..29999: never the measured flows' ports
CASES = {
    "a": "(a) no filtering",
    "b": "(b) default group",
    "c": f"(c) default group + {EXTRA_RULES:,} rules",
    "d": f"(d) default group of {TARGET_MEMBERS:,} members",
}


@dataclass
class Lab:
    tag: str

    @property
    def host(self) -> str:
        return f"{NS_PREFIX}{self.tag}-h"

    @property
    def bridge(self) -> str:
        return f"v6b-fw{self.tag}"

    def ns(self, name: str) -> str:
        return f"{NS_PREFIX}{self.tag}-{name}"

    def tap(self, name: str) -> str:
        return f"tapfw{self.tag}{name}"

    def nft(self, script: str) -> float:
        started = now()
        run(in_ns(self.host, "nft", "-f", "-"), input=script, timeout=300)
        return now() - started


def build_lab(lab: Lab) -> None:
    host = lab.host
    cmds = [
        ["ip", "netns", "add", host],
        ["ip", "-n", host, "link", "set", "lo", "up"],
        # bridge ports must not autoconfigure; bridged frames go through the inet hooks (as the
        # agent sets it before each load)
        in_ns(host, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"),
        in_ns(host, "sysctl", "-qw", "net.bridge.bridge-nf-call-ip6tables=1"),
        in_ns(host, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"),
        ["ip", "-n", host, "link", "add", lab.bridge, "type", "bridge", "stp_state", "0"],
        ["ip", "-n", host, "link", "set", lab.bridge, "type", "bridge", "mcast_snooping", "0"],
        ["ip", "-n", host, "link", "set", lab.bridge, "up"],
    ]
    for name, mac in LAB_MAC.items():
        ns, tap = lab.ns(name), lab.tap(name)
        veth = ["type", "veth", "peer", "name", "eth0", "netns", ns, "address", mac]
        cmds += [
            ["ip", "netns", "add", ns],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "-n", host, "link", "add", tap, *veth],
            in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"),
            ["ip", "-n", ns, "link", "set", "eth0", "up"],
            ["ip", "-n", ns, "addr", "add", f"{LAB_GUA[name]}/64", "dev", "eth0", "nodad"],
            ["ip", "-n", host, "link", "set", tap, "master", lab.bridge, "up"],
        ]
    for argv in cmds:
        run(argv)


def lab_spec(lab: Lab, case: str) -> FirewallSpec | None:
    """The ruleset of a case (None: no filtering)."""
    if case == "a":
        return None

    def port(name: str, group: str) -> FirewallPort:
        own = AllowedAddress(f"{LAB_GUA[name]}/128", LAB_MAC[name])
        return FirewallPort(
            f"port-{name}",
            lab.tap(name),
            NET,
            LAB_MAC[name],
            allowed=(own,),
            security_groups=(group,),
        )

    # Neutron's default group: egress anything, ingress from the group's own members
    rules = [
        SecurityGroupRule("egress", "IPv6"),
        SecurityGroupRule("egress", "IPv4"),
        SecurityGroupRule("ingress", "IPv6", remote_group=DEFAULT_GROUP),
        SecurityGroupRule("ingress", "IPv4", remote_group=DEFAULT_GROUP),
    ]
    if case == "c":
        rules += [
            SecurityGroupRule("ingress", "IPv6", 6, EXTRA_RULE_PORTS + i, EXTRA_RULE_PORTS + i)
            for i in range(EXTRA_RULES)
        ]
    members = [f"{LAB_GUA['a']}/128", f"{LAB_GUA['b']}/128"]
    if case == "d":  # 99,998 others in 2001:db8:fb:1::/64, as members on other hosts would be
        base = int(ipaddress.IPv6Address("2001:db8:fb:1::"))
        members += [f"{ipaddress.IPv6Address(base + i + 1)}/128" for i in range(TARGET_MEMBERS - 2)]
    return FirewallSpec(
        networks=(FirewallNetwork(NET, lab.bridge, zone=11),),
        ports=(port("a", DEFAULT_GROUP), port("b", DEFAULT_GROUP), port("x", EGRESS_ONLY)),
        security_groups=(
            SecurityGroup(DEFAULT_GROUP, rules=tuple(rules)),
            SecurityGroup(
                EGRESS_ONLY,
                rules=(SecurityGroupRule("egress", "IPv6"), SecurityGroupRule("egress", "IPv4")),
            ),
        ),
        remote_groups=(RemoteGroup.of(DEFAULT_GROUP, ipv6=tuple(members)),),
    )


def rule_position(script: str) -> tuple[int, int]:
    """(position of the rule that lets the measured flow in, rules) in the group's ingress chain."""
    lines = script.split(f"chain sg_{DEFAULT_GROUP}_ingress {{", 1)[1].split("}", 1)[0]
    rules = [line.strip() for line in lines.splitlines() if line.strip()]
    where = next(i for i, r in enumerate(rules, 1) if f"@rg6_{DEFAULT_GROUP}" in r)
    return where, len(rules)


@dataclass
class CaseRun:
    case: str
    load: float = float("nan")
    gbps: float = float("nan")
    pps: float = float("nan")
    udp_lost: float = float("nan")
    conns: float = float("nan")
    control_ok: bool = False
    error: str = ""


def tcp_gbps(lab: Lab, seconds: int) -> float:
    out = run(
        in_ns(lab.ns("b"), "iperf3", "-c", LAB_GUA["a"], "-p", str(IPERF_PORT),
              "-t", str(seconds), "-O", "1", "-J"),
        timeout=seconds + 30,
    )  # fmt: skip
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


def udp_pps(lab: Lab, seconds: int) -> tuple[float, float]:
    """Packets per second received by the server, and the share lost."""
    out = run(
        in_ns(lab.ns("b"), "iperf3", "-c", LAB_GUA["a"], "-p", str(IPERF_PORT), "-u",
              "-b", "0", "-l", "64", "-t", str(seconds), "-J"),
        timeout=seconds + 30,
    )  # fmt: skip
    total = json.loads(out)["end"]["sum"]
    received = total["packets"] - total["lost_packets"]
    return received / total["seconds"], total["lost_packets"] / max(1, total["packets"])


def connects(lab: Lab, source: str, seconds: float, timeout: float = 1.0) -> dict[str, float]:
    argv = [sys.executable, "-c", _CONNECTOR, LAB_GUA["a"], str(CONNECT_PORT)]
    out = run(in_ns(lab.ns(source), *argv, str(seconds), str(timeout)), timeout=seconds + 30)
    return json.loads(out)


def dataplane(args: argparse.Namespace, tag: str) -> list[Row]:
    lab = Lab(tag)
    servers: list[LineProcess | subprocess.Popen[bytes]] = []
    try:
        build_lab(lab)
        iperf = subprocess.Popen(
            in_ns(lab.ns("a"), "iperf3", "-s", "-p", str(IPERF_PORT)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_set_pdeathsig,
        )  # fmt: skip
        servers.append(iperf)
        acceptor = LineProcess(
            in_ns(lab.ns("a"), sys.executable, "-c", _ACCEPTOR, str(CONNECT_PORT))
        )
        servers.append(acceptor)
        if acceptor.wait_for("ready", 10) is None:
            raise RuntimeError("the TCP acceptor did not start")
        time.sleep(0.5)  # iperf3 -s listening
        scripts: dict[str, str] = {}
        render_s: dict[str, float] = {}
        for case in CASES:
            started = now()
            spec = lab_spec(lab, case)
            scripts[case] = render_removal() if spec is None else render_ruleset(spec)
            render_s[case] = now() - started
        where, total = rule_position(scripts["c"])
        print(
            "rulesets rendered: "
            + ", ".join(
                f"{c} {len(s) / 1e6:.2f} MB in {render_s[c]:.2f} s" for c, s in scripts.items()
            )
            + f"; in (c) the measured flow's rule is #{where:,} of {total:,} in the group's"
            " ingress chain"
        )
        runs: list[CaseRun] = []
        order = list(CASES)
        for rep in range(args.repeats):
            for case in order[rep % 4 :] + order[: rep % 4]:  # rotated: no case always first
                result = CaseRun(case)
                runs.append(result)
                try:
                    result.load = lab.nft(scripts[case])
                    x = connects(lab, "x", 0, 0.3)  # one try from the non-member
                    result.control_ok = (x["n"] == 1) == (case == "a")
                    result.gbps = tcp_gbps(lab, args.tcp_seconds)
                    result.pps, result.udp_lost = udp_pps(lab, args.udp_seconds)
                    c = connects(lab, "b", args.conn_seconds)
                    result.conns = c["n"] / c["seconds"]
                    if c["failed"]:
                        result.error = f"{c['failed']} connects failed"
                except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as exc:
                    result.error = str(exc)[:300]
                print(
                    f"  repeat {rep + 1} {CASES[case]:<40} load {result.load:6.2f} s  "
                    f"TCP {result.gbps:6.2f} Gbit/s  UDP {result.pps / 1e3:7.1f} kpps "
                    f"(lost {result.udp_lost:.0%})  {result.conns:7.0f} conn/s  control "
                    f"{'ok' if result.control_ok else 'FAILED'}"
                    + (f"  ERROR {result.error}" if result.error else ""),
                    flush=True,
                )
        return dataplane_rows(runs, render_s, scripts)
    finally:
        for proc in servers:
            if isinstance(proc, LineProcess):
                proc.stop()
            elif proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        remove_namespaces(f"{NS_PREFIX}{tag}-")


def dataplane_rows(
    runs: list[CaseRun], render_s: dict[str, float], scripts: dict[str, str]
) -> list[Row]:
    rows: list[Row] = []
    by_case = {c: [r for r in runs if r.case == c] for c in CASES}
    figure = {
        "gbps": ("TCP throughput, 1 stream", "Gbit/s"),
        "pps": ("packet rate (UDP, 64 B, received)", "kpps"),
        "conns": ("new TCP connections", "/s"),
    }
    meds = {(c, k): median([getattr(r, k) for r in by_case[c]]) for c in CASES for k in figure}
    for key, (what, unit) in figure.items():
        scale = 1e-3 if key == "pps" else 1.0
        a, b = meds[("a", key)], meds[("b", key)]
        for case in CASES:
            value = meds[(case, key)]
            target, ok = "", None
            if case in "cd":
                in_issue = key != "conns"
                target = ">= 0.90x (b)" if in_issue else "(0.90x (b))"
                ok = value >= (1 - TARGET_WITHIN) * b if in_issue else None
            rel = f", {value / b:.2f}x (b)" if case != "b" and b == b and b else ""
            rows.append(
                Row(f"{CASES[case]}: {what}{rel}", value * scale, unit, target, ok, value / a)
            )
    for case in CASES:
        size = len(scripts[case]) / 1e6
        what = f"{CASES[case]}: nft -f load ({size:.2f} MB, rendered in {render_s[case]:.2f} s)"
        rows.append(Row(what, median([r.load for r in by_case[case]]), "s"))
    bad = [r for r in runs if r.error or not r.control_ok]
    rows.append(Row("dataplane runs with an error or a failed control", len(bad), ""))
    return rows


# =================================================================================================
# Part 2: latency through the product
# =================================================================================================


class FirewallProbe(Probe):
    """``convergence.Probe`` (passes, state fetch, decode, drivers) plus the firewall: the
    renders in ``plan``, the spec file read in ``observe``, and every ``nft`` load."""

    READS = {**Probe.READS, "nftables": ("tables",)}
    WRITES = {**Probe.WRITES, "nftables": ("load",)}

    def instrument(self, agent: Any) -> None:
        super().instrument(agent)
        from v6fabric.agent import firewall_loaded, reconcile
        from v6fabric.agent import observe_firewall as agent_observe

        # whichever of these the agent has (the firewall path is being optimised)
        for module, names in (
            (firewall_loaded, ("firewall_ruleset", "firewall_digest")),
            (reconcile, ("sets_only_changed", "render_set_updates", "render_update")),
            (reconcile, ("firewall_to_json",)),
            (agent_observe, ("firewall_from_json",)),
        ):
            for name in names:
                if hasattr(module, name):
                    prefix = "observe" if module is agent_observe else "render"
                    setattr(module, name, self.wrap(f"{prefix}.{name}", getattr(module, name)))
        load = agent.drivers.nftables.load

        def traced(netns: str | None, script: str) -> None:
            started = now()
            try:
                load(netns, script)
            finally:
                kind = (
                    "ruleset"
                    if "delete table" in script
                    else ("chains" if "chain" in script else "elements")
                )
                self.emit("nft", t0=started, t1=now(), bytes=len(script), kind=kind)

        agent.drivers.nftables.load = traced


def agent_child(argv: list[str]) -> int:
    """``--agent-child``: what ``v6fabric agent`` does, with ``FirewallProbe``'s wrappers."""
    return convergence_agent_child(argv, FirewallProbe)


class Events:
    """The agent's events file, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.all = path, 0, []

    def read(self) -> list[dict[str, Any]]:
        with contextlib.suppress(FileNotFoundError), self.path.open() as f:
            f.seek(self.offset)
            chunk = f.read()
            complete = chunk[: chunk.rfind("\n") + 1]
            self.offset += len(complete.encode())
            for line in complete.splitlines():
                with contextlib.suppress(ValueError):
                    self.all.append(json.loads(line))
        return self.all


class Watcher(threading.Thread):
    """A second long-poll client of the host's state: when the server publishes each one."""

    def __init__(self, session: Session, host: str) -> None:
        super().__init__(daemon=True, name="state-watcher")
        self.session, self.host = session, host
        self.records: list[tuple[float, float, int, int]] = []  # (asked, arrived, revision, bytes)
        self.stopping = threading.Event()
        self.etag: str | None = None

    def run(self) -> None:
        headers = {"X-Auth-Token": self.session.token}
        with httpx.Client(base_url=self.session.base, headers=headers, timeout=120) as http:
            while not self.stopping.is_set():
                extra = {"If-None-Match": self.etag} if self.etag else {}
                asked = now()
                try:
                    response = http.get(
                        f"/fabric/v1/hosts/{self.host}/state", params={"wait": 5}, headers=extra
                    )
                except httpx.HTTPError:
                    time.sleep(0.1)
                    continue
                arrived = now()
                if response.status_code == 200:
                    self.etag = response.headers.get("ETag")
                    revision = int(json.loads(response.content).get("revision", -1))
                    self.records.append((asked, arrived, revision, len(response.content)))
                elif response.status_code != 304:
                    time.sleep(0.1)

    def first_after(self, t: float) -> tuple[float, int]:
        for _asked, arrived, _revision, size in self.records:
            if arrived >= t:
                return arrived, size
        return float("nan"), 0


@dataclass
class Sample:
    kind: str  # "rule" | "member"
    members: int
    index: int
    level: int = 0  # MEM's members when the level's samples began
    t_call: float = float("nan")  # monotonic time the API call was sent
    t201: float = float("nan")
    post: float = float("nan")  # the API call's latency
    latency: float = float("nan")  # 201 -> first datagram through
    error: str = ""
    # attribution (s after the 201, or durations)
    published: float = float("nan")
    state_bytes: int = 0
    agent_got: float = float("nan")
    decode: float = float("nan")
    pass_start: float = float("nan")
    pass_seconds: float = float("nan")
    observe: float = float("nan")
    plan: float = float("nan")
    render: dict[str, float] = field(default_factory=dict)
    nft: float = float("nan")
    nft_end: float = float("nan")
    nft_kind: str = ""
    nft_bytes: int = 0


@dataclass
class World:
    api: Api
    session: Session
    host: str
    host_netns: str
    tag: str
    network: dict
    subnet: dict
    srv: dict
    mem: dict
    ns: dict[str, str] = field(default_factory=dict)  # S, C, W -> workload namespace
    address: dict[str, str] = field(default_factory=dict)
    members: int = 0  # ports in MEM
    rule_ports: int = 0
    member_macs: int = 0
    fill_macs: int = 0
    fill_rate: list[tuple[int, float, bool]] = field(default_factory=list)


def eui64(prefix: str, mac: str) -> str:
    net = ipaddress.IPv6Network(prefix)
    octets = bytearray(int(b, 16) for b in mac.split(":"))
    octets[0] ^= 0x02
    iid = bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:])
    return str(ipaddress.IPv6Address(int(net.network_address) | int.from_bytes(iid, "big")))


def create(api: Api, kind: str, body: dict) -> dict:
    path = {"security_group": "security-groups", "security_group_rule": "security-group-rules"}
    return api.call("POST", f"/v2.0/{path.get(kind, kind + 's')}", {kind: body})[0][kind]


def guest_has(ns: str, address: str) -> bool:
    done = run_quiet(["ip", "-n", ns, "-j", "addr", "show", "dev", "eth0"])
    with contextlib.suppress(ValueError):
        for link in json.loads(done.stdout or "[]"):
            for info in link.get("addr_info", ()):
                if info.get("local") == address and not info.get("tentative"):
                    return True
    return False


def build_world(api: Api, session: Session, host: str, host_netns: str, tag: str) -> World:
    unlimited_quotas(api)
    with contextlib.suppress(RuntimeError):
        quota = {"quota": {"security_group": -1, "security_group_rule": -1}}
        api.call("PUT", f"/v2.0/quotas/{session.project_id}", quota, 200)
    network = create(api, "network", {"name": f"fw{tag}"})
    subnet = create(
        api,
        "subnet",
        {
            "network_id": network["id"], "name": f"fw{tag}", "ip_version": 6,
            "cidr": "2001:db8:fc::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac",
        },
    )  # fmt: skip
    srv = create(api, "security_group", {"name": f"srv{tag}"})
    mem = create(api, "security_group", {"name": f"mem{tag}"})
    world = World(api, session, host, host_netns, tag, network, subnet, srv, mem)
    rule(world, PROBE_PORT)
    ports = {
        "S": create(api, "port", {"network_id": network["id"], "security_groups": [srv["id"]]}),
        "C": create(api, "port", {"network_id": network["id"], "security_groups": [mem["id"]]}),
        "W": create(
            api,
            "port",
            {"network_id": network["id"], "port_security_enabled": False, "security_groups": []},
        ),
    }
    world.members = 1  # C
    for name, port in ports.items():
        world.address[name] = port["fixed_ips"][0]["ip_address"]
        body = {"workload": {"name": f"fw{tag}-{name}", "host": host, "port_ids": [port["id"]]}}
        workload = api.call("POST", "/fabric/v1/workloads", body)[0]["workload"]
        world.ns[name] = workload.get("namespace") or f"v6w-{workload['id']}"
    for name in ports:
        if not wait_until(lambda n=name: guest_has(world.ns[n], world.address[n]), 60, 0.1):
            raise RuntimeError(f"workload {name} did not get {world.address[name]}")
    return world


def rule(world: World, port: int) -> tuple[dict, float]:
    body = {
        "security_group_rule": {
            "security_group_id": world.srv["id"], "direction": "ingress", "ethertype": "IPv6",
            "protocol": "udp", "port_range_min": port, "port_range_max": port,
            "remote_group_id": world.mem["id"],
        }
    }  # fmt: skip
    got, t = world.api.call("POST", "/v2.0/security-group-rules", body)
    return got["security_group_rule"], t


def fill(world: World, target: int, deadline: float, agent: AgentProcess | None) -> None:
    """Bulk-create unbound ports in MEM until it has ``target`` members (or time is up).

    MACs are given (``02:fc:...``, sequential): with 24 random bits per network the server's
    own MACs clash often enough at these sizes to fail a bulk request (see RESULTS.md).
    ``agent``: paused (SIGSTOP) meanwhile, so that the server does not compile the host's
    state (the whole store) for it after every request; it catches up when it continues.
    """
    started, before = now(), world.members
    if agent is not None:
        os.kill(agent.pid, signal.SIGSTOP)
    try:
        while world.members < target and now() < deadline:
            size = min(BULK, target - world.members)
            ports = []
            for _ in range(size):
                world.fill_macs += 1
                tail = world.fill_macs.to_bytes(4, "big").hex(":")
                ports.append(
                    {
                        "network_id": world.network["id"], "mac_address": f"02:fc:{tail}",
                        "security_groups": [world.mem["id"]],
                    }
                )  # fmt: skip
            world.api.call("POST", "/v2.0/ports", {"ports": ports})
            world.members += size
            if world.members // 10_000 != (world.members - size) // 10_000:
                rate = (world.members - before) / (now() - started)
                print(f"  {world.members:,} members, {rate:.0f} ports/s", flush=True)
    finally:
        if agent is not None:
            os.kill(agent.pid, signal.SIGCONT)
    if world.members > before:
        world.fill_rate.append((world.members - before, now() - started, agent is not None))


def compile_seconds(world: World, runs: int = 3) -> tuple[float, float]:
    """Median time of a ``GET`` of the host state right after a write that does not change it
    (the description of SRV): the server's compile (whole store) + encode + transfer. Also the
    median latency of a ``GET /`` (no auth, no SQL) sent 5 ms into that compile, from another
    client: what every API call waits while a state is compiled on the event loop."""
    times, stalls = [], []
    for i in range(runs):
        body = {"security_group": {"description": f"compile probe {i}"}}
        world.api.call("PUT", f"/v2.0/security-groups/{world.srv['id']}", body, 200)
        started = now()
        stall: list[float] = []

        def root(at: float = started, out: list[float] = stall) -> None:
            time.sleep(max(0.0, at + 0.005 - now()))
            t = now()
            httpx.get(world.session.base.rstrip("/") + "/", timeout=120)
            out.append(now() - t)

        other = threading.Thread(target=root, daemon=True)
        other.start()
        world.api.call("GET", f"/fabric/v1/hosts/{world.host}/state", expect=200)
        times.append(now() - started)
        other.join(120)
        stalls += stall
    return median(times), median(stalls)


def compile_breakdown(state_dir: Path, host: str, member: dict[str, Any]) -> dict[str, float]:
    """Where the server's time goes for one host state: its state cache's calls, in this
    process, on the server's database (one run; the server is idle meanwhile). The live path
    (after one member port is written) and, for reference, a compile from a full read."""
    from v6fabric.compiler.compile import compile_host
    from v6fabric.compiler.snapshot import Snapshot
    from v6fabric.hoststate.codec import encode_and_hash
    from v6fabric.identity.context import RequestContext
    from v6fabric.services.registry import Services
    from v6fabric.settings import Settings
    from v6fabric.store.db import Database

    settings = Settings(state_dir=state_dir)
    db = Database(settings.db_url)
    try:
        services = Services(db, settings)
        mirror = services.fabric_mirror
        out: dict[str, float] = {}
        t = now()
        mirror.snapshot_for(host)
        out["first compile after a start: the whole store read into the mirror"] = now() - t
        services.ports.create(RequestContext.admin(), [member])
        t = now()
        snapshot = mirror.snapshot_for(host)
        out["after one new member port: mirror reads the changed rows, host's inputs"] = now() - t
        t = now()
        state = compile_host(snapshot, host)
        out["compile_host of the host's inputs"] = now() - t
        t = now()
        body, _etag = encode_and_hash(state)
        out[f"sections and ETag (full body {len(body) / 1e6:.1f} MB, memoized)"] = now() - t
        t = now()
        compile_host(Snapshot.build(**services.fabric.snapshot()), host)
        out["for reference: read the whole store and compile from it"] = now() - t
        return out
    finally:
        db.dispose()


def settle(world: World, agent: AgentProcess, events: Events, timeout: float) -> bool:
    """Until the agent has the server's latest state and has finished a pass on it."""
    deadline = now() + timeout
    while now() < deadline:
        evs = events.read()
        states = [e for e in evs if e["ev"] == "state"]
        passes = [e for e in evs if e["ev"] == "pass"]
        if states and passes and passes[-1]["t0"] >= states[-1]["t1"] - 1e-6:
            headers = {"If-None-Match": states[-1]["etag"] or ""}
            response = world.api.http.get(
                f"/fabric/v1/hosts/{world.host}/state", params={"wait": 0}, headers=headers
            )
            if response.status_code == 304 and not passes[-1]["pending"]:
                return True
        if not agent.alive():
            raise RuntimeError(f"the agent died:\n{agent.tail()}")
        time.sleep(0.2)
    return False


def measure(
    world: World,
    kind: str,
    index: int,
    receiver: LineProcess,
    senders: dict[str, LineProcess],
    timeout: float,
) -> Sample:
    sample = Sample(kind, world.members, index)
    probe_id = f"{kind}{world.members}x{index}"
    if kind == "rule":
        port = RULE_PORTS + world.rule_ports
        world.rule_ports += 1
        sender, source = senders["C"], world.address["C"]
    else:
        port = PROBE_PORT
        world.member_macs += 1
        mac = f"02:fb:00:00:{world.member_macs >> 8:02x}:{world.member_macs & 0xFF:02x}"
        source = eui64(world.subnet["cidr"], mac)
        run(["ip", "-n", world.ns["W"], "addr", "add", f"{source}/128", "dev", "eth0", "nodad"])
        sender = senders["W"]
    sender.send(f"go {probe_id} {source} {world.address['S']} {port}")
    try:
        if sender.wait_for("sent", 5) is None:
            sample.error = "the sender did not start"
            return sample
        time.sleep(BLOCKED_CHECK)
        early = _got(receiver, probe_id, 0)
        if early is not None:
            sample.error = "passed before the API call (not blocked)"
            return sample
        sample.t_call = started = now()
        if kind == "rule":
            _, sample.t201 = rule(world, port)
        else:
            body = {
                "port": {
                    "network_id": world.network["id"], "mac_address": mac,
                    "security_groups": [world.mem["id"]], "name": probe_id,
                }
            }  # fmt: skip
            got, sample.t201 = world.api.call("POST", "/v2.0/ports", body)
            world.members += 1
            if got["port"]["fixed_ips"][0]["ip_address"] != source:
                sample.error = f"unexpected address {got['port']['fixed_ips']}"
        sample.post = sample.t201 - started
        arrived = _got(receiver, probe_id, timeout)
        if arrived is None:
            sample.error = sample.error or f"nothing through after {timeout:.0f} s"
        else:
            sample.latency = arrived - sample.t201
        return sample
    finally:
        sender.send(f"stop {probe_id}")


def _got(receiver: LineProcess, probe_id: str, timeout: float) -> float | None:
    """Monotonic time the receiver got the first datagram of ``probe_id`` (None: not yet)."""
    found = getattr(receiver, "found", None)
    if found is None:
        found = receiver.found = {}  # type: ignore[attr-defined]
    deadline = now() + timeout
    while True:
        if probe_id in found:
            return found[probe_id]
        left = deadline - now()
        try:
            _, line = receiver.lines.get(timeout=left) if left > 0 else receiver.lines.get_nowait()
        except queue.Empty:
            return None
        words = line.split()
        if words[:1] == ["got"]:
            found[words[1]] = float(words[3])


def attribute(sample: Sample, events: list[dict[str, Any]], watcher: Watcher) -> None:
    """Split a sample with the agent's events and the watcher."""
    if sample.latency != sample.latency:
        return
    t201, through = sample.t201, sample.t201 + sample.latency
    published, sample.state_bytes = watcher.first_after(sample.t_call)
    sample.published = published - t201
    # the load that let the flow through: the last one started before it (nft commits before
    # the process returns, a few ms before the load's end is seen)
    nfts = [e for e in events if e["ev"] == "nft" and sample.t_call <= e["t0"] <= through]
    if not nfts:
        return
    nft = nfts[-1]
    sample.nft, sample.nft_end = nft["t1"] - nft["t0"], nft["t1"] - t201
    sample.nft_kind, sample.nft_bytes = nft["kind"], nft["bytes"]
    done = next((e for e in events if e["ev"] == "pass" and e["t1"] >= nft["t1"]), None)
    if done is None:
        return
    got = [e for e in events if e["ev"] == "state" and e["t1"] <= done["t0"] + 1e-6]
    if got:
        sample.agent_got = got[-1]["t1"] - t201
        sample.decode = got[-1].get("decode", float("nan"))
    sample.pass_start = done["t0"] - t201
    sample.pass_seconds = done["t1"] - done["t0"]
    timings = done["timings"]
    sample.observe = timings.get("observe", [0, 0.0])[1]
    sample.plan = timings.get("plan", [0, 0.0])[1]
    sample.render = {k: v[1] for k, v in timings.items() if k.startswith(("render.", "observe."))}


def describe(s: Sample) -> str:
    def f(x: float) -> str:
        return f"{ms(x):8.1f}" if x == x else "     n/a"

    renders = " ".join(f"{k.split('.')[-1]} {ms(v):.0f}" for k, v in s.render.items())
    return (
        f"  {s.kind:<6} @{s.members:>7,} #{s.index:<2} {f(s.latency)} ms  [POST {f(s.post)}"
        f"  published {f(s.published)} ({s.state_bytes / 1e6:.1f} MB)  agent got {f(s.agent_got)}"
        f" (decode {f(s.decode)})  pass {f(s.pass_seconds)} (observe {f(s.observe)} plan"
        f" {f(s.plan)}: {renders})  nft {s.nft_kind} {s.nft_bytes / 1e6:.2f} MB {f(s.nft)}"
        f" ending {f(s.nft_end)}]" + (f"  ERROR {s.error}" if s.error else "")
    )


def latency(args: argparse.Namespace, tag: str) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix=f"v6f-bench-fw-{tag}-"))
    run_dir = Path(tempfile.mkdtemp(prefix=f"v6f-bench-fw-{tag}-run-"))
    run_dir.chmod(0o755)
    host, host_netns = f"bench-fw-{tag}", f"v6h-bf{tag}"
    server: Server | None = None
    agent: AgentProcess | None = None
    api: Api | None = None
    children: list[LineProcess] = []
    world: World | None = None
    try:
        server = start_server(work, "auto")
        session = login(read_openrc(server.openrc))
        api = Api(session)
        agent = AgentProcess.start(
            openrc_env(server.openrc), session.base, host, host_netns, run_dir, work, "main",
            script=Path(__file__).resolve(),
        )  # fmt: skip
        print(f"server: {server.how} (pid {server.pid}) at {session.base}; agent pid {agent.pid}")
        if not wait_until(
            lambda: (
                api.http.get(f"/fabric/v1/hosts/{host}").status_code == 200
                and host_netns in namespaces()
            ),
            30,
        ):
            raise RuntimeError(f"the agent did not register:\n{agent.tail()}")
        started = now()
        world = build_world(api, session, host, host_netns, tag)
        print(f"network, groups SRV and MEM, workloads S C W ready in {now() - started:.1f} s")
        rows = _latency(args, world, server, agent, children, work)
        return rows
    finally:
        for child in children:
            child.stop()
        if api is not None and world is not None and agent is not None and agent.alive():
            with contextlib.suppress(Exception):  # the workloads, so the agent unplugs them
                for workload in api.get("/fabric/v1/workloads").get("workloads", ()):
                    api.call("DELETE", f"/fabric/v1/workloads/{workload['id']}", expect=(204, 404))
                wait_until(lambda: not (set(world.ns.values()) & namespaces()), 60, 0.2)
        if api is not None:
            api.close()
        if agent is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(agent.pid, signal.SIGCONT)  # in case a fill was interrupted
            agent.stop()
        if server is not None:
            server.stop()
        left = force_clean(run_dir, host_netns, set(world.ns.values()) if world else set())
        if left:  # the network stays (its 100,000 ports are not deleted one by one)
            print(f"cleanup: removed {len(left)} leftovers (the network's namespace, daemons)")
        if args.keep_work:
            print(f"logs and events kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _latency(
    args: argparse.Namespace,
    world: World,
    server: Server,
    agent: AgentProcess,
    children: list[LineProcess],
    work: Path,
) -> list[Row]:
    events = Events(agent.events)
    hi = RULE_PORTS + MAX_RULE_SAMPLES
    receiver = LineProcess(
        in_ns(world.ns["S"], sys.executable, "-c", _RECEIVER, str(PROBE_PORT), str(hi))
    )
    children.append(receiver)
    senders = {}
    for name in ("C", "W"):
        senders[name] = LineProcess(
            in_ns(world.ns[name], sys.executable, "-c", _SENDER, str(PROBE_INTERVAL)), stdin=True
        )
        children.append(senders[name])
    for child in children:
        if child.wait_for("ready", 15) is None:
            raise RuntimeError("a probe process did not start")
    if not settle(world, agent, events, 60):
        raise RuntimeError("the agent did not settle")
    # Controls: C (a member) reaches S:7000; W from its own address does not.
    for name, should in (("C", True), ("W", False)):
        pid = f"control{name}"
        senders[name].send(f"go {pid} {world.address[name]} {world.address['S']} {PROBE_PORT}")
        passed = _got(receiver, pid, 1.0) is not None
        senders[name].send(f"stop {pid}")
        print(f"control: {name} -> S udp {PROBE_PORT} {'passes' if passed else 'is dropped'}"
              f" ({'as expected' if passed == should else 'NOT AS EXPECTED'})")  # fmt: skip
        if passed != should:
            raise RuntimeError("the controls failed: the ruleset is not what it should be")

    samples: list[Sample] = []
    levels: list[tuple[int, float, float]] = []  # (members, compile s, GET / meanwhile s)
    for level in args.members:
        target = TARGET_MEMBERS if level == "max" else int(level)
        if target > world.members:
            paused = target > args.pause_above
            print(
                f"\nfilling MEM to {target:,} members (bulk creates of {BULK}, agent "
                f"{'paused' if paused else 'running'})",
                flush=True,
            )
            t_fill = now()
            fill_deadline = t_fill + args.fill_seconds - sum(x[1] for x in world.fill_rate)
            fill(world, target, fill_deadline, agent if paused else None)
            print(f"  {world.members:,} members after {now() - t_fill:.1f} s", flush=True)
        t_settle = now()
        if not settle(world, agent, events, 240):
            print("  the agent did not settle within 240 s; measuring anyway")
        print(f"  agent settled {now() - t_settle:.1f} s after the fill", flush=True)
        levels.append((world.members, *compile_seconds(world)))
        print(
            f"  server compile + encode: {ms(levels[-1][1]):.0f} ms; GET / sent meanwhile took"
            f" {ms(levels[-1][2]):.0f} ms",
            flush=True,
        )
        settle(world, agent, events, 60)
        watcher = Watcher(world.session, world.host)
        watcher.start()
        time.sleep(0.3)
        n = args.samples if target <= 1000 else args.samples_large
        budget = now() + args.level_seconds
        print(f"measuring at {world.members:,} members: up to {n} of each, interleaved")
        for i in range(n):
            for kind in ("rule", "member"):
                if i >= args.min_samples and now() > budget:
                    break
                s = measure(world, kind, i, receiver, senders, args.sample_timeout)
                s.level = levels[-1][0]
                samples.append(s)
                settle(world, agent, events, 120)
                attribute(s, events.read(), watcher)
                print(describe(s), flush=True)
        watcher.stopping.set()
    member = {
        "network_id": world.network["id"], "mac_address": "02:fe:00:00:00:01",
        "security_groups": [world.mem["id"]], "project_id": world.mem["project_id"],
    }  # fmt: skip
    breakdown = compile_breakdown(server.state_dir, world.host, member)
    print(
        "server compile, in-process breakdown: "
        + ", ".join(f"{k} {ms(v):.0f} ms" for k, v in breakdown.items())
    )
    rows = latency_rows(samples, levels, world, server, agent)
    for what, seconds in breakdown.items():
        rows.append(
            Row(f"server at {levels[-1][0]:,} members, in-process: {what}", ms(seconds), "ms")
        )
    return rows


def latency_rows(
    samples: list[Sample],
    levels: list[tuple[int, float, float]],
    world: World,
    server: Server,
    agent: AgentProcess,
) -> list[Row]:
    rows: list[Row] = []
    sizes = sorted({s.level for s in samples})
    biggest = sizes[-1] if sizes else 0
    for kind in ("rule", "member"):
        label = "new rule" if kind == "rule" else "new member port"
        for size in sizes:
            group = [s for s in samples if s.kind == kind and s.level == size]
            if not group:
                continue
            ok = [s for s in group if not s.error]
            lat = [s.latency for s in ok]
            at = f"{label} @ {size:,} members"
            rows.append(Row(f"{at}: 201 -> enforced, p50 (n={len(ok)})", ms(median(lat)), "ms"))
            is_target = size >= TARGET_MEMBERS
            target = f"<= {TARGET_LATENCY_P99_MS:.0f} ms" if is_target else ""
            verdict = ms(p99(lat)) <= TARGET_LATENCY_P99_MS if is_target and lat else None
            if size == biggest and not is_target:
                target = f"({TARGET_LATENCY_P99_MS:.0f} ms @100k)"
                verdict = False if lat and ms(p99(lat)) > TARGET_LATENCY_P99_MS else None
            rows.append(
                Row(f"{at}: p99 (nearest rank = slowest)", ms(p99(lat)), "ms", target, verdict)
            )
            parts = {
                "201 -> server published it (watcher)": [s.published for s in ok],
                "201 -> agent has it (decoded)": [s.agent_got for s in ok],
                "  of which decoding the state": [s.decode for s in ok],
                "agent pass": [s.pass_seconds for s in ok],
                "  observe": [s.observe for s in ok],
                "  plan (renders included)": [s.plan for s in ok],
                "  nft load": [s.nft for s in ok],
                "201 -> nft load done": [s.nft_end for s in ok],
            }
            for key in sorted({k for s in ok for k in s.render}):
                parts[f"    {key}"] = [s.render.get(key, 0.0) for s in ok]
            for part, values in parts.items():
                rows.append(Row(f"{at}:   {part}, p50", ms(median(values)), "ms"))
            size_mb = median([s.state_bytes for s in ok]) / 1e6
            nft_kb = median([s.nft_bytes for s in ok]) / 1e3
            kinds = sorted({s.nft_kind for s in ok})
            rows.append(
                Row(f"{at}:   state {size_mb:.1f} MB; nft script ({'/'.join(kinds)})", nft_kb, "kB")
            )
            failed = len(group) - len(ok)
            if failed:
                rows.append(Row(f"{at}: failed samples", failed, ""))
    for members, seconds, stall in levels:
        what = f"server: compile + encode the host state at {members:,} members, median of 3"
        rows.append(Row(what, ms(seconds), "ms"))
        what = f"server: GET / sent 5 ms into that compile ({members:,} members), median"
        rows.append(Row(what, ms(stall), "ms"))
    for created, seconds, paused in world.fill_rate:
        how = "agent paused" if paused else "agent running"
        rows.append(
            Row(f"bulk fill: {created:,} ports into MEM ({how}), rate", created / seconds, "/s")
        )
    rows.append(Row("agent VmHWM", (proc_status_kb(agent.pid, "VmHWM") or 0) / 1024, "MB"))
    rows.append(Row("server VmRSS", (proc_status_kb(server.pid or 0, "VmRSS") or 0) / 1024, "MB"))
    return rows


# =================================================================================================
# The run
# =================================================================================================


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--agent-child"]:
        return agent_child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat; memberships 100, 1000")
    parser.add_argument("--part", choices=("all", "dataplane", "latency"), default="all")
    parser.add_argument("--repeats", type=int, default=3, help="dataplane repeats (3)")
    parser.add_argument("--tcp-seconds", type=int, default=3)
    parser.add_argument("--udp-seconds", type=int, default=2)
    parser.add_argument("--conn-seconds", type=float, default=2.0)
    parser.add_argument(
        "--members", default="100,10000,max", help="MEM sizes to measure at (100,10000,max)"
    )
    parser.add_argument("--fill-seconds", type=float, default=180, help="bulk fill budget (180)")
    parser.add_argument(
        "--pause-above", type=int, default=10_000, help="pause the agent for fills beyond (10000)"
    )
    parser.add_argument("--samples", type=int, default=20, help="of each kind, <= 1,000 members")
    parser.add_argument("--samples-large", type=int, default=10, help="of each kind, larger")
    parser.add_argument("--min-samples", type=int, default=3, help="of each kind, per level")
    parser.add_argument("--level-seconds", type=float, default=150, help="per level (150)")
    parser.add_argument("--sample-timeout", type=float, default=90)
    parser.add_argument("--keep-work", action="store_true", help="keep logs and agent events")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.tcp_seconds, args.udp_seconds, args.conn_seconds = 1, 2, 1, 1.0
        args.members, args.samples, args.samples_large = "100,1000", 5, 5
        args.fill_seconds, args.level_seconds = 60, 40
    args.members = [m.strip() for m in args.members.split(",") if m.strip()]
    if os.geteuid() != 0:
        raise SystemExit("needs root: real namespaces")
    missing = [tool for tool in ("nft", "iperf3", "ip") if shutil.which(tool) is None]
    if missing and args.part != "latency":
        raise SystemExit(f"missing {missing}: apt-get install iperf3 nftables iproute2")

    tag = secrets.token_hex(3)
    print(
        f"v6fabric firewall benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M UTC}  "
        f"{platform.node()}  {os.cpu_count()} CPUs  Python {platform.python_version()}  tag {tag}"
    )
    busy0, t0 = machine_busy_seconds(), now()
    time.sleep(1.0)
    idle = (machine_busy_seconds() - busy0) / (now() - t0)
    print(f"machine: {load_note()}; {idle:.2f} cores busy in the second before the run")
    rows: list[Row] = []
    started = now()
    busy_start = machine_busy_seconds()
    try:
        if args.part in ("all", "dataplane"):
            print(
                f"\n== dataplane: {args.repeats} repeat(s) of (a)-(d), interleaved; TCP "
                f"{args.tcp_seconds} s (+1 s omitted), UDP {args.udp_seconds} s, connects "
                f"{args.conn_seconds:g} s",
                flush=True,
            )
            t_part = now()
            rows += dataplane(args, tag)
            print(f"dataplane part: {now() - t_part:.0f} s")
        if args.part in ("all", "latency"):
            print("\n== latency through the server and the agent", flush=True)
            t_part = now()
            rows += latency(args, tag)
            print(f"latency part: {now() - t_part:.0f} s")
    finally:
        leftovers = remove_namespaces(f"{NS_PREFIX}{tag}-")
        if leftovers:
            print(f"removed leftover namespaces: {leftovers}")
    wall = now() - started
    busy = (machine_busy_seconds() - busy_start) / wall
    rows.append(Row("CPU: whole machine during the run (incl. this benchmark)", busy, "cores"))
    print(f"\nmachine: {load_note()} after the run ({wall:.0f} s); {idle:.2f} cores busy before")
    print_table(
        rows, "x (a)", widths=(78, 14, 13, 8), two_decimals=("s", "Gbit/s"), ratio_decimals=2
    )
    failed = [r.what for r in rows if r.ok is False]
    print(f"\n{len(failed)} target(s) missed" + (": " + "; ".join(failed) if failed else ""))
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
