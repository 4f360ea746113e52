#!/usr/bin/env python3
"""What creating a port and binding it (a workload) cost the state feed of a busy host: in-process.

    PYTHONPATH=src .venv/bin/python bench/state_sections.py                 # N = 150 and 2,000
    PYTHONPATH=src .venv/bin/python bench/state_sections.py --baseline /tmp/old/src

The world is bench/convergence.py's host (built with ``tests/unit/test_compiler.py``'s records):
one host that is both the network host and the compute host, three networks (SLAAC,
DHCPv6-stateless, DHCPv6-stateful), each with its DHCP port and a router leg, and N workloads on
the host, one port each, round robin over the networks. Each change is two steps through the
server's live inputs (``compiler.live``), as the benchmark's API calls are: a port is created
(unbound, ``create``), then a workload binds it (``bind``). For each step, for the host:

* ``compile``: ``compile_host``;
* ``sections``: ``Sections.of`` of the new state given the previous one's (the server's cost to
  get the ETag, as its state cache does);
* ``delta``: ``codec.encode_delta`` from the previous state, its size, its section count;
* ``decode``: ``codec.decode_delta`` of it, and ``agent``: ``agent.client._applied`` (decode,
  apply, hash check: the state feed thread's work, holding the GIL) with the agent's own memo
  (budget ``AGENT_MEMO_BYTES``) on the agent's own copy, given its held sections.

``--baseline SRC``: the same, in a child process importing ``v6fabric`` from SRC (e.g. the
code before a change: ``git archive main src | tar -x -C /tmp/old``), printed side by side.
Medians over the changes (the first of each world warms the memos and is not counted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("compile ms", "sections ms", "delta ms", "delta kB", "delta sections", "decode ms",
           "agent ms")  # fmt: skip


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = call()
    return value, (time.perf_counter() - start) * 1000


def measure(count: int, changes: int) -> dict[str, float]:
    """Medians per ``<step> <figure>``, with the ``v6fabric`` on ``sys.path``."""
    sys.path.insert(0, str(ROOT))  # the compiler tests' record builders
    from tests.unit import test_compiler as t

    from v6fabric.agent.client import _applied
    from v6fabric.compiler import compile_host
    from v6fabric.compiler.live import LiveInputs
    from v6fabric.hoststate import codec, sections
    from v6fabric.hoststate.sections import Sections

    try:  # what the agent's process keeps to itself: its memo, and its cuts' splits
        from v6fabric.hoststate import cuts

        cut_fields: tuple[Any, ...] = cuts.CUTS
    except ImportError:  # the code before the cuts
        cut_fields = ()
    server_splits = [cut._splits for cut in cut_fields]
    agent_splits = [type(memo)(4) for memo in server_splits]
    server_memo, agent_memo = sections.encoded, sections._Memo(sections.AGENT_MEMO_BYTES)

    @contextlib.contextmanager
    def agent_side() -> Iterator[None]:
        sections.encoded = agent_memo
        for cut, memo in zip(cut_fields, agent_splits, strict=True):
            cut._splits = memo
        try:
            yield
        finally:
            sections.encoded = server_memo
            for cut, memo in zip(cut_fields, server_splits, strict=True):
                cut._splits = memo

    host = t.NET_HOST
    modes = (t.SLAAC, t.STATELESS, t.STATEFUL)
    nets = [t.network(i + 1) for i in range(3)]
    subs = [t.subnet(i + 1, n, f"2001:db8:{i + 1}::/64", ra=m, addr=m)
            for i, (n, m) in enumerate(zip(nets, modes, strict=True))]  # fmt: skip
    routers = [t.router(i + 1) for i in range(3)]

    def port_of(number: int, bound: bool) -> dict[str, Any]:
        i = number % 3
        wire = t.port(number + 100, nets[i], (subs[i], f"2001:db8:{i + 1}::{number + 100:x}"),
                      host=host)  # fmt: skip
        return wire if bound else {**wire, "device_id": "", "binding:host_id": ""}

    def bind(live: LiveInputs, number: int) -> None:
        wire = port_of(number, bound=True)
        live.update("ports", {wire["id"]: wire})
        workload = {**t.workload(number, wire, host=host), "project_id": "p1"}
        live.update("workloads", {workload["id"]: workload})

    def create(live: LiveInputs, number: int) -> None:
        wire = port_of(number, bound=False)
        live.update("ports", {wire["id"]: wire})

    live = LiveInputs()
    live.network_hosts = (host,)
    live.update("networks", {n["id"]: n for n in nets})
    live.update("subnets", {s["id"]: s for s in subs})
    live.update("routers", {r["id"]: r for r in routers})
    legs = [t.dhcp_port(10 + i, n) for i, n in enumerate(nets)]
    legs += [t.router_port(20 + i, r, n, (s, f"2001:db8:{i + 1}::1"))
             for i, (r, n, s) in enumerate(zip(routers, nets, subs, strict=True))]  # fmt: skip
    live.update("ports", {p["id"]: p for p in legs})
    for number in range(count):
        bind(live, number)

    state = compile_host(live.snapshot_for(host), host)
    held = Sections.of(state)
    with agent_side():
        agent = codec.decode(codec.encode(state))
        agent_held, agent_sections = (agent, codec.content_hash(agent)), None
    figures: dict[str, list[float]] = {}
    for i in range(changes):
        for step, change in (("create", create), ("bind", bind)):
            change(live, count + i)
            new, compile_ms = timed(lambda: compile_host(live.snapshot_for(host), host))
            cut, sections_ms = timed(lambda: Sections.of(new, held))  # noqa: B023
            raw, delta_ms = timed(lambda: codec.encode_delta(held, cut, new.revision))  # noqa: B023
            with agent_side():
                _, decode_ms = timed(lambda: codec.decode_delta(raw))  # noqa: B023
                result, agent_ms = timed(lambda: _applied(agent_held, raw, agent_sections))  # noqa: B023
            if result is None:
                raise SystemExit("the delta did not apply")
            agent_held, agent_sections, held = (result[0], cut.content_hash), result[1], cut
            if i == 0:
                continue
            found = {"compile ms": compile_ms, "sections ms": sections_ms, "delta ms": delta_ms,
                     "delta kB": len(raw) / 1000, "delta sections": len(json.loads(raw)["sections"]),
                     "decode ms": decode_ms, "agent ms": agent_ms}  # fmt: skip
            for name, value in found.items():
                figures.setdefault(f"{step} {name}", []).append(value)
    return {name: statistics.median(values) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workloads", type=int, nargs="+", default=[150, 2000])
    parser.add_argument("--changes", type=int, default=21, help="per world (the first warms)")
    parser.add_argument("--baseline", help="a src directory to measure the same with")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.json:  # v6fabric from the PYTHONPATH given
        print(json.dumps({n: measure(n, args.changes) for n in args.workloads}))
        return
    sys.path.insert(0, str(ROOT / "src"))
    base: dict[str, dict[str, float]] = {}
    if args.baseline:
        child = [sys.executable, __file__, "--json", "--changes", str(args.changes),
                 "--workloads", *map(str, args.workloads)]  # fmt: skip
        env = {"PYTHONPATH": str(Path(args.baseline).resolve())}
        base = json.loads(subprocess.run(child, env=env, capture_output=True, check=True).stdout)
    print(f"| {'N':>5} | {'step figure (median)':<22} | {'this tree':>10} | {'baseline':>10} "
          f"| {'ratio':>7} |")  # fmt: skip
    print(f"|{'-' * 7}|{'-' * 24}|{'-' * 12}|{'-' * 12}|{'-' * 9}|")
    for count in args.workloads:
        mine = measure(count, args.changes)
        old = base.get(str(count), {})
        for step in ("create", "bind"):
            for figure in FIGURES:
                name = f"{step} {figure}"
                was = old.get(name, float("nan"))
                ratio = f"{mine[name] / was:>6.2f}x" if was == was and was else f"{'':>7}"
                print(f"| {count:>5} | {name:<22} | {mine[name]:>10.2f} | {was:>10.2f} "
                      f"| {ratio} |")  # fmt: skip


if __name__ == "__main__":
    main()
