#!/usr/bin/env python3
"""What one more workload costs the network host's state, with and without metadata: in-process.

    PYTHONPATH=src .venv/bin/python bench/state_metadata.py            # N = 150 and 2,000
    PYTHONPATH=src .venv/bin/python bench/state_metadata.py --workloads 150 --changes 11

The world (built with ``tests/unit/test_compiler.py``'s records): one network with a SLAAC
subnet, its DHCP port and a router leg on the network host (``net1``, which so runs the
metadata proxy), and N workloads on 4 compute hosts, one port each, with ~3 KB of user_data
and a key. Each change adds one workload with its port through
the server's live inputs (``compiler.live``, what the mirror feeds), then times, for the
network host:

* ``compile``: ``compile_host(live.snapshot_for("net1"), "net1")``;
* ``sections``: ``Sections.of`` of the new state given the previous one's, as the server's
  state cache does (encode + hash of the changed sections: the server's cost to get the ETag);
* ``delta``: ``codec.encode_delta`` from the previous state, and its size;
* ``agent``: ``agent.client._applied`` (decode, apply, hash check) with the agent's own memo
  (budget ``AGENT_MEMO_BYTES``), applied to the agent's own decoded copy of the previous state
  and given its sections, as the client keeps them between deltas.

Baseline, in the same run: the same world and changes with ports that have no ``device_id``
(the proxy answers no device, so the state's metadata has no ports and no instances; the rest,
dnsmasq's per-port data included, changes as before). Medians over the changes; the ratio is
the metadata world's figure over the baseline's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # the compiler tests' record builders

from tests.unit.test_compiler import (  # noqa: E402
    NET_HOST,
    SLAAC,
    dhcp_port,
    network,
    port,
    router,
    router_port,
    subnet,
    uid,
)
from tests.unit.test_compiler import (  # noqa: E402
    workload as compiler_workload,
)

from v6fabric.agent.client import _applied  # noqa: E402
from v6fabric.compiler import compile_host  # noqa: E402
from v6fabric.compiler.live import LiveInputs  # noqa: E402
from v6fabric.hoststate import codec, sections  # noqa: E402
from v6fabric.hoststate.sections import Sections  # noqa: E402

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGM bench@host"


NETWORK = network(1)
SUBNET = subnet(1, NETWORK, "2001:db8:1::/64", ra=SLAAC, addr=SLAAC)
ROUTER = router(1)


def workload(number: int, with_metadata: bool) -> tuple[Any, Any]:
    host = f"compute{number % 4}"
    wid = uid("w", number)
    address = f"2001:db8:1::{number + 100:x}"
    wire = port(number + 100, NETWORK, (SUBNET, address), device_id=wid, host=host)
    if not with_metadata:
        wire["device_id"] = ""
    data = {
        **compiler_workload(number, wire, host=host),
        "project_id": "p1",
        "user_data": f"#cloud-config\n# vm {number}\n" + "write_files: [x]\n" * 190,  # ~3 KB
        "public_keys": [{"name": "k", "key": KEY}],
        "properties": {"role": "web"},
    }
    return wire, data


def world(count: int, with_metadata: bool) -> LiveInputs:
    live = LiveInputs()
    live.network_hosts = (NET_HOST,)
    live.update("networks", {NETWORK["id"]: NETWORK})
    live.update("subnets", {SUBNET["id"]: SUBNET})
    live.update("routers", {ROUTER["id"]: ROUTER})
    legs = [dhcp_port(1, NETWORK), router_port(2, ROUTER, NETWORK, (SUBNET, "2001:db8:1::1"))]
    live.update("ports", {p["id"]: p for p in legs})
    for number in range(count):
        add(live, number, with_metadata)
    return live


def add(live: LiveInputs, number: int, with_metadata: bool) -> None:
    wire, data = workload(number, with_metadata)
    live.update("ports", {wire["id"]: wire})
    live.update("workloads", {data["id"]: data})


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = call()
    return value, (time.perf_counter() - start) * 1000


def run(count: int, changes: int, with_metadata: bool) -> dict[str, float]:
    live = world(count, with_metadata)
    server_memo, agent_memo = sections.encoded, sections._Memo(sections.AGENT_MEMO_BYTES)
    state = compile_host(live.snapshot_for(NET_HOST), NET_HOST)
    held = Sections.of(state)
    sections.encoded = agent_memo
    try:
        agent = codec.decode(codec.encode(state))
        agent_held, agent_sections = (agent, codec.content_hash(agent)), None
    finally:
        sections.encoded = server_memo
    figures: dict[str, list[float]] = {}
    for i in range(changes):
        add(live, count + i, with_metadata)
        new, compile_ms = timed(lambda: compile_host(live.snapshot_for(NET_HOST), NET_HOST))
        cut, sections_ms = timed(lambda: Sections.of(new, held))  # noqa: B023
        raw, delta_ms = timed(lambda: codec.encode_delta(held, cut, new.revision))  # noqa: B023
        sections.encoded = agent_memo
        try:
            result, agent_ms = timed(lambda: _applied(agent_held, raw, agent_sections))  # noqa: B023
        finally:
            sections.encoded = server_memo
        if result is None:
            raise SystemExit("the delta did not apply")
        agent_held, agent_sections, held = (result[0], cut.content_hash), result[1], cut
        if i == 0:  # the first of a run warms the memos
            continue
        for name, value in (("compile ms", compile_ms), ("sections ms", sections_ms),
                            ("delta ms", delta_ms), ("delta kB", len(raw) / 1000),
                            ("agent ms", agent_ms), ("state kB", len(codec.encode(new)) / 1000),
                            ("metadata sections", sum(n.startswith("metadata") for n in cut.values))):  # fmt: skip
            figures.setdefault(name, []).append(value)
    return {name: statistics.median(values) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workloads", type=int, nargs="+", default=[150, 2000])
    parser.add_argument("--changes", type=int, default=11, help="per world (the first warms)")
    args = parser.parse_args()
    print(f"| {'N':>5} | {'figure (median of one more workload)':<36} | {'metadata':>10} "
          f"| {'baseline':>10} | {'ratio':>7} |")  # fmt: skip
    print(f"|{'-' * 7}|{'-' * 38}|{'-' * 12}|{'-' * 12}|{'-' * 9}|")
    for count in args.workloads:
        base = run(count, args.changes, with_metadata=False)
        meta = run(count, args.changes, with_metadata=True)
        for name, value in meta.items():
            ratio = value / base[name] if base[name] else float("nan")
            print(f"| {count:>5} | {name:<36} | {value:>10.2f} | {base[name]:>10.2f} "
                  f"| {ratio:>6.1f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
