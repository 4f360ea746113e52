#!/usr/bin/env python3
"""East/west throughput through a distributed router (issue 7, R20), against its baselines.

    PYTHONPATH=src .venv/bin/python bench/dvr_throughput.py               # 5 rounds of 5 s
    PYTHONPATH=src .venv/bin/python bench/dvr_throughput.py --rounds 9 --seconds 3

A 2-host lab through the API (``v6fabric.lab``, IPv6 underlay; host 1 the L3 host, host 2
compute). Two workloads on host 2, on two SLAAC networks, in three set-ups measured in the
same run, round by round (so that the machine's noise hits them alike):

* ``veth``: two bare namespaces joined by one veth pair (the ceiling);
* ``distributed``: through a ``distributed=True`` router (routed on host 2 itself);
* ``centralized``: through a legacy router, which the scheduler puts on host 1 (the only L3
  host): every packet crosses the overlay to host 1 and back.

Each measurement is a single TCP stream, ``iperf3 -t SECONDS``, receiver's figure, at the
tenant networks' MTU for all three. Prints each set-up's median and the median of its
per-round ratio to ``veth`` (target: the distributed router close to ``veth``, above
``centralized``). On one machine the overlay costs CPU, not a wire: the centralized path's
real price (the L3 host's links and CPU shared by every tenant) is not in these figures.
Root only; everything it makes is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(1, str(ROOT))

from tests.e2e.conftest import eui64, remove_tagged, wait_for  # noqa: E402
from tests.e2e.lab_api import open_group  # noqa: E402
from tests.e2e.multihost import MultiHostLab, multihost_lab  # noqa: E402

from v6fabric.drivers.commands import in_netns, run  # noqa: E402

IPERF_PORT = 5201
TIMEOUT = 120.0


@contextmanager
def bare_veth(tag: str, mtu: int) -> Iterator[tuple[str, str, str]]:
    """Two namespaces on one veth pair of the tenant networks' ``mtu``: (client, server, the
    server's address)."""
    client, server = f"v6t-{tag}c", f"v6t-{tag}s"
    try:
        for name in (client, server):
            run(["ip", "netns", "add", name])
        run(
            ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", server],
            netns=client,
        )
        for name, host in ((client, 1), (server, 2)):
            batch = (
                f"link set lo up\nlink set eth0 mtu {mtu}\n"
                f"address add fd00:bee::{host}/64 dev eth0 nodad\nlink set eth0 up\n"
            )
            run(["ip", "-batch", "-"], netns=name, input=batch)
        yield client, server, "fd00:bee::2"
    finally:
        remove_tagged(tag, [])


def routed_pair(
    mh: MultiHostLab, label: str, second: int, **router: object
) -> tuple[str, str, str]:
    """Two workloads on host 2 on two networks behind one router: (client ns, server ns, the
    server's address)."""
    admin, compute = mh.on(1), mh.on(2)
    group = open_group(admin, f"bench-{label}")["id"]
    prefixes = {str(side): f"2001:db8:{second:x}{side}::/64" for side in (1, 2)}
    nets, subnets = admin.slaac_networks(f"bench-{label}", prefixes)
    vms, addresses = [], []
    for side, cidr in prefixes.items():
        port = compute.port(nets[side], security_groups=[group])
        vms.append(compute.workload(f"bench-{label}-{side}", port))
        addresses.append(str(eui64(cidr, port["mac_address"])))
        compute.wait_active(port, timeout=TIMEOUT)
    admin.router(*subnets.values(), name=f"bench-{label}", **router)
    for vm, address in zip(vms, addresses, strict=True):
        compute.wait_addresses(vm, address, default_route=True, timeout=TIMEOUT)
    wait_for(f"{label}: across the router", lambda: compute.ping(vms[0], addresses[1]), TIMEOUT)
    return vms[0]["namespace"], vms[1]["namespace"], addresses[1]


def throughput(client: str, server: str, address: str, seconds: float) -> float:
    """One TCP stream's rate in Gbit/s, as the receiver saw it."""
    daemon = subprocess.Popen(
        in_netns(["iperf3", "-s", "-1", "-B", address, "-p", str(IPERF_PORT)], server),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        argv = ["iperf3", "-J", "-c", address, "-p", str(IPERF_PORT), "-t", str(seconds)]
        out = run(argv, netns=client, timeout=seconds + 60).stdout
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        daemon.kill()
        daemon.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if not shutil.which("iperf3"):
        print("iperf3 is missing (apt install iperf3)")
        return 2
    tag = f"bdvr{secrets.token_hex(3)}"
    figures: dict[str, list[float]] = {"veth": [], "distributed": [], "centralized": []}
    with multihost_lab(hosts=2, underlay="ipv6") as mh:
        routed = {
            "distributed": routed_pair(mh, "dvr", 0xD, distributed=True),
            "centralized": routed_pair(mh, "legacy", 0xC),
        }
        found = mh.on(1).call("GET", "/v2.0/networks?name=bench-dvr-1", None, 200)["networks"]
        mtu = found[0]["mtu"]
        print(f"MTU {mtu} everywhere (the tenant networks'; the bare veth gets it too)")
        with bare_veth(tag, mtu) as veth:
            pairs = {"veth": veth, **routed}
            for number in range(1, args.rounds + 1):
                for name, pair in pairs.items():
                    figures[name].append(throughput(*pair, args.seconds))
                line = ", ".join(f"{n} {v[-1]:.2f}" for n, v in figures.items())
                print(f"round {number}: {line}")
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"\nmedians over {args.rounds} rounds of {args.seconds:g} s (Gbit/s, one TCP stream);")
    print("ratios: the median of each round's ratio to that round's veth figure")
    for name, value in medians.items():
        ratio = statistics.median(
            v / b for v, b in zip(figures[name], figures["veth"], strict=True)
        )
        print(f"  {name:12} {value:6.2f}   {ratio:.2f} x veth")
    versus = zip(figures["distributed"], figures["centralized"], strict=True)
    print(f"distributed / centralized: {statistics.median(d / c for d, c in versus):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
