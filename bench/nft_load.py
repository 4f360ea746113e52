#!/usr/bin/env python3
"""What one firewall load costs the agent as the host's ruleset grows.

A host shaped like bench/convergence.py's: 3 networks (a router and a DHCP port each), N
guarded workloads spread over them, all in the tenant's default group (egress anywhere, ingress
from the group: a remote-group set holding every workload's addresses). The renderer's
``render_ruleset`` for N workloads is loaded into a throwaway namespace
(``v6bench-nftload-<tag>-*``); then, repeated, the agent's update for one more workload
(``render_update(N, N + 1)``, timed: "add") and back (``render_update(N + 1, N)``, timed:
"remove"). Medians. Setups, interleaved in the same run, each in its own namespace:

* ``before``: with ``--baseline-src DIR``, the scripts of another tree's renderer (a checkout
  of the code before a change, e.g. ``git archive main src | tar -x -C /tmp/base``, rendered
  in a subprocess), loaded with ``NftCommand`` (``nft -f -`` forked from a thread inside the
  namespace), as the agent did;
* ``nft -f``: this tree's renderer, ``NftCommand``;
* ``libnftables``: this tree's renderer, ``NftLibrary`` (what the agent uses where it loads).

Probes on this renderer's ruleset, with ``nft -f`` (one command each, so that what nft fetches
and what the kernel does per kind of change show apart): ``floor`` (``add table``: nft starts
and lists the tables only), ``hash element`` (one element of a plain set: nft lists every chain
and set first), ``interval element`` (a concatenated interval set: the kernel's pipapo set
copies its lookup table), ``verdict element`` (a ``jump`` in a verdict map: the kernel validates
every jump of the table), ``add with --echo`` (nft fetches the whole ruleset, rules included).

    PYTHONPATH=src .venv/bin/python bench/nft_load.py                        # ~1 min
    PYTHONPATH=src .venv/bin/python bench/nft_load.py --baseline-src /tmp/base/src
    # options: --ports 0,150,500 --repeats 30 --no-probes
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from v6fabric.hoststate.firewall import (
    AllowedAddress,
    FirewallNetwork,
    FirewallPort,
    FirewallSpec,
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
)

NETS = [f"{n:08x}-5d6e-4f70-8a91-b2c3d4e5f601" for n in (0x3F1C2B9A, 0x8D2E4F60, 0xC0FFEE00)]
SG = "0d5c3a1e-7b2f-4c8d-9e6a-1f2b3c4d5e6f"
RULES = tuple(
    SecurityGroupRule(way, kind, remote_group=SG if way == "ingress" else None)
    for way in ("ingress", "egress")
    for kind in ("IPv4", "IPv6")
)


def _port(i: int) -> FirewallPort:
    mac = f"fa:16:3e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
    port_id = f"{i:08x}-0000-4000-8000-000000000000"
    net = i % len(NETS)
    allowed = (
        AllowedAddress(f"2001:db8:{net + 1}::{i:x}/128", mac),
        AllowedAddress(f"10.{net}.{i >> 8 & 255}.{i & 255}/32", mac),
    )
    return FirewallPort(
        port_id, f"tap{port_id[:11]}", NETS[net], mac, allowed=allowed, security_groups=(SG,)
    )


def host_spec(workloads: int) -> FirewallSpec:
    """``workloads`` guarded ports in the default group, plus each network's router and DHCP."""
    ports = [_port(i) for i in range(1, workloads + 1)]
    for n, net in enumerate(NETS):
        for k, role in enumerate(("router", "dhcp")):
            mac = f"fa:16:3e:ff:{n:02x}:{k:02x}"
            ports.append(FirewallPort(f"ffff{n}{k}00-0000", f"tapffff{n}{k}00-00", net, mac, role))
    members = [a.cidr for p in ports for a in p.allowed]
    group = RemoteGroup.of(
        SG, ipv6=[m for m in members if ":" in m], ipv4=[m for m in members if "." in m]
    )
    return FirewallSpec(
        networks=tuple(
            FirewallNetwork(net, f"v6b-{net[:11]}", zone=n + 1) for n, net in enumerate(NETS)
        ),
        ports=tuple(ports),
        security_groups=(SecurityGroup(SG, rules=RULES),),
        remote_groups=(group,),
    )


def scripts(workloads: int) -> dict[str, str]:
    """The ruleset at ``workloads`` and the updates one workload more and back."""
    from v6fabric.render.nftables import render_ruleset, render_update

    now, more = host_spec(workloads), host_spec(workloads + 1)
    return {
        "ruleset": render_ruleset(now),
        "add": render_update(now, more),
        "remove": render_update(more, now),
    }


def baseline_scripts(src: str, counts: list[int]) -> dict[int, dict[str, str]]:
    """The same scripts from another tree's renderer (this file run with its ``src``)."""
    env = {**os.environ, "PYTHONPATH": src}
    argv = [sys.executable, __file__, "--render-only", ",".join(map(str, counts))]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    return {int(k): v for k, v in json.loads(out).items()}


@contextlib.contextmanager
def namespace(name: str) -> Iterator[str]:
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def probes(text: dict[str, str]) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (script, undo, nft options), on the current renderer's ruleset."""
    element = '"zz" . fa:16:3e:99:99:99 . 2001:db8:99::/64'
    return {
        "floor (add table)": ("add table inet v6fabric\n", "", []),
        "hash element": (
            'add element bridge v6fabric all_taps { "zz" }\n',
            'delete element bridge v6fabric all_taps { "zz" }\n',
            [],
        ),
        "interval element": (
            f"add element bridge v6fabric src6_nets {{ {element} }}\n",
            f"delete element bridge v6fabric src6_nets {{ {element} }}\n",
            [],
        ),
        "verdict element": (
            f"add element inet v6fabric from_ports {{ 0x7 : jump sg_{SG}_egress }}\n",
            "delete element inet v6fabric from_ports { 0x7 }\n",
            [],
        ),
        "add with --echo": (text["add"], text["remove"], ["-e"]),
    }


def measure(counts: list[int], repeats: int, baseline: str | None, probing: bool) -> None:
    from v6fabric.drivers.nftables import Nftables, NftCommand, NftLibrary

    command, library, tag = NftCommand(), NftLibrary.open(), secrets.token_hex(2)
    current = {n: scripts(n) for n in counts}
    setups: dict[str, tuple[dict[int, dict[str, str]], Nftables]] = {}
    if baseline:
        setups["before"] = (baseline_scripts(baseline, counts), command)
    setups["nft -f"] = (current, command)
    if library is not None:
        setups["libnftables"] = (current, library)
    print(f"one workload's firewall update, medians of {repeats} (ms): {', '.join(setups)}")
    columns = [f"{label} {k}" for label in setups for k in ("add", "remove")]
    print(f"{'workloads':>9} " + " ".join(f"{c:>18}" for c in columns))
    rows: dict[int, dict[str, float]] = {}
    for n in counts:
        with contextlib.ExitStack() as stack:
            spaces = {
                label: stack.enter_context(namespace(f"v6bench-nftload-{tag}-{i}"))
                for i, label in enumerate(setups)
            }
            for label, ns in spaces.items():
                command.load(ns, setups[label][0][n]["ruleset"])
            samples: dict[str, list[float]] = {c: [] for c in columns}
            order = list(setups)
            for i in range(repeats):
                for label in order[i % len(order) :] + order[: i % len(order)]:
                    (texts, nft), ns = setups[label], spaces[label]
                    for kind in ("add", "remove"):
                        script = texts[n][kind]
                        samples[f"{label} {kind}"].append(
                            timed(lambda d=nft, w=ns, s=script: d.load(w, s))
                        )
                        # the kernel frees what a transaction deleted after an RCU grace
                        # period; a netfilter socket closed before waits for it: not ours
                        time.sleep(0.03)
            rows[n] = {k: statistics.median(v) for k, v in samples.items()}
            print(f"{n:>9} " + " ".join(f"{v:>18.2f}" for v in rows[n].values()), flush=True)
            if probing:  # interleaved too: each repeat runs every probe once
                ns, found = spaces["nft -f"], {name: [] for name in probes(current[n])}
                for _ in range(repeats):
                    for name, (script, undo, flags) in probes(current[n]).items():
                        argv = ["nft", *flags, "-f", "-"]
                        found[name].append(timed(functools.partial(command._run, argv, ns, script)))
                        if undo:
                            command.load(ns, undo)
                        time.sleep(0.03)
                for name, xs in found.items():
                    print(f"{'':>9}   probe, nft -f: {name:<20} {statistics.median(xs):>7.2f}")
            for ns in spaces.values() if library is not None else ():
                library.forget(ns)  # its socket would keep the namespace alive
    first = rows[counts[0]]
    print(f"\nadd at N / add at {counts[0]}:")
    for n in counts:
        ratios = (f"{s}: {rows[n][f'{s} add'] / first[f'{s} add']:.2f}x" for s in setups)
        print(f"{n:>9} " + "  ".join(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ports", default="0,150,500", help="workloads on the host (0,150,500)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--baseline-src", help="another tree's src/ to render 'before' with")
    parser.add_argument("--no-probes", action="store_true")
    parser.add_argument("--render-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render_only is not None:
        print(json.dumps({n: scripts(int(n)) for n in args.render_only.split(",")}))
        return
    counts = [int(n) for n in args.ports.split(",")]
    measure(counts, args.repeats, args.baseline_src, not args.no_probes)


if __name__ == "__main__":
    main()
