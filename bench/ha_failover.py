#!/usr/bin/env python3
"""L3 HA failover (issue 7, R22): how long a workload's traffic stops when the master fails.

    PYTHONPATH=src .venv/bin/python bench/ha_failover.py                      # 20 x kill, 0.2 s
    PYTHONPATH=src .venv/bin/python bench/ha_failover.py --failure link --runs 20
    PYTHONPATH=src .venv/bin/python bench/ha_failover.py --advert-interval 0.1 --load 2

The topology of ``tests/e2e/ha_topology.py`` (agents from hand-made HostStates, no server):
router r1 on hosts a and b (keepalived VRRPv3, unicast over the HA network), the workload and
the far host on host c, VXLAN over an IPv6 underlay. ``--runs`` times: the workload pings the
far host every 10 ms (``ping -D``); the master fails (``kill``: its keepalived SIGKILLed, as a
crash; ``link``: its underlay link down); the interruption is the longest time without an
echo reply. Then the failed instance comes back (its agent starts keepalived again; the link
comes up again, and when both masters meet one steps down) and settles as the standby before
the next run. Prints p50/p99/max against the 1 s target.

Also: the notify hook's own time (``--hook-runs``: MASTER and BACKUP run by hand on two legs
with a radvd config, wall clock of ``sh hook ...``), and with ``--quiet SECONDS`` the VRRP
transitions seen while nothing fails, under ``--load N`` busy processes (flapping check).
Root only; everything it makes is removed at the end.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(1, str(ROOT))

from tests.e2e.conftest import remove_tagged, wait_for  # noqa: E402
from tests.e2e.ha_probes import TimedPing  # noqa: E402
from tests.e2e.ha_topology import FAR, HaLab  # noqa: E402
from tests.e2e.traffic import pings  # noqa: E402

from v6fabric.agent.layout import Layout  # noqa: E402
from v6fabric.agent.vrrp import hook_paths  # noqa: E402
from v6fabric.drivers.commands import run  # noqa: E402
from v6fabric.drivers.sysctl import ProcSysctls  # noqa: E402
from v6fabric.hoststate.model import RadvdSpec, RaInterface, RaPrefix  # noqa: E402
from v6fabric.hoststate.vrrp import VrrpSpec  # noqa: E402
from v6fabric.render.radvd import render_radvd  # noqa: E402
from v6fabric.render.vrrp_notify import render_notify_hook  # noqa: E402

TARGET_SECONDS = 1.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, values: list[float], target: float | None = None) -> str:
    line = (
        f"{name}: n={len(values)} p50 {quantile(values, 0.5) * 1000:.0f} ms"
        f"  p99 {quantile(values, 0.99) * 1000:.0f} ms  max {max(values) * 1000:.0f} ms"
    )
    if target is not None:
        verdict = "within" if max(values) < target else "OVER"
        line += f"  ({verdict} the {target:g} s target)"
    return line


def hook_times(tag: str, directory: Path, runs: int) -> tuple[list[float], list[float]]:
    """The hook run by hand, as keepalived runs it, in a namespace with two legs."""
    ns = f"t7-{tag}-hook"
    run(["ip", "netns", "add", ns])
    ProcSysctls().write(ns, {"net.ipv6.conf.default.accept_dad": "0"})  # as in a router's
    lines = ["link set lo up"]
    for leg in ("qr-hook0", "qg-hook0"):
        lines.append(f"link add {leg} type veth peer name {leg[:3]}peer")
        lines.append(f"link set {leg[:3]}peer up")
    run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")
    layout = Layout(directory)
    paths = hook_paths(layout, ns)
    spec = VrrpSpec(ns, "hook", 1, "lo", ("qg-hook0", "qr-hook0"))
    hook = layout.daemon_file("keepalived", ns, "notify")
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(render_notify_hook(spec, paths, python=sys.executable))
    radvd = RadvdSpec(
        ns, (RaInterface("qr-hook0", False, False, 1500, (RaPrefix("2001:db8::/64", True),)),)
    )
    Path(paths.radvd_conf).write_text(render_radvd(radvd))
    # the watcher waits for keepalived's VRRP process: a sleeping stand-in
    stand_in = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "3600"])
    Path(paths.keepalived_vrrp_pid).write_text(f"{stand_in.pid}\n")
    up, down = [], []
    try:
        for _ in range(runs):
            for state, times in (("MASTER", up), ("BACKUP", down)):
                started = time.perf_counter()
                run(["ip", "netns", "exec", ns, "sh", str(hook), "INSTANCE", "VR", state, "50"])
                times.append(time.perf_counter() - started)
                time.sleep(0.05)
    finally:
        stand_in.kill()
        stand_in.wait()
    return up, down


def failovers(lab: HaLab, runs: int, failure: str) -> tuple[list[float], list[float]]:
    gaps, back = [], []
    for index in range(runs):
        master = wait_for("one master", lab.master, 30)
        other = "b" if master == "a" else "a"
        # an interruption left by the last comeback is that comeback's, not this failover's
        wait_for("traffic before the failure", lambda: pings(lab.workload_ns, FAR), 30)
        ping = TimedPing(lab.workload_ns, FAR)
        time.sleep(0.5)
        if failure == "kill":
            lab.kill_keepalived(master)
        else:
            lab.link(master, False)
        wait_for("the other master", lambda: lab.states().get(other) == "active", 30)  # noqa: B023
        wait_for("traffic", lambda: pings(lab.workload_ns, FAR), 30)
        time.sleep(0.3)
        gap, replies, sent = ping.stop()
        gaps.append(gap)
        print(f"  {index + 1:2d}: {master} -> {other} {gap * 1000:6.0f} ms ({replies}/{sent})")
        ping = TimedPing(lab.workload_ns, FAR)
        if failure == "kill":
            lab.converge(master)  # its agent starts keepalived again: a backup
        else:
            lab.link(master, True)  # both masters meet: one steps down
        wait_for(
            "one master and one backup",
            lambda: sorted(lab.states().values()) == ["active", "standby"],
            30,
        )
        time.sleep(1.5)
        back.append(ping.stop()[0])
    return gaps, back


def quiet(lab: HaLab, seconds: float, load: int) -> int:
    """Transitions while nothing fails (each one a flap), with ``load`` busy processes."""
    before = sum(len(lab.transitions(h)) for h in ("a", "b"))
    burners = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(load)]
    try:
        time.sleep(seconds)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    return sum(len(lab.transitions(h)) for h in ("a", "b")) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--failure", choices=("kill", "link"), default="kill")
    parser.add_argument("--advert-interval", type=float, default=0.2)
    parser.add_argument("--hook-runs", type=int, default=20)
    parser.add_argument("--quiet", type=float, default=0.0, help="seconds of flap watching")
    parser.add_argument("--load", type=int, default=0, help="busy processes meanwhile")
    args = parser.parse_args()
    for tool in ("keepalived", "radvd", "ping"):
        if not shutil.which(tool):
            sys.exit(f"needs {tool}")
    tag = secrets.token_hex(3)
    directory = Path(tempfile.mkdtemp(prefix=f"v6f-bench-{tag}-"))
    directory.chmod(0o755)
    try:
        if args.hook_runs:
            up, down = hook_times(tag, directory / "hook", args.hook_runs)
            print(summary("hook MASTER (legs up, radvd started)", up))
            print(summary("hook BACKUP (radvd killed, legs down)", down))
        lab = HaLab(tag, directory / "lab", advert_interval=args.advert_interval)
        lab.build()
        print(f"advert_int {args.advert_interval} s, failure {args.failure}, {args.runs} runs")
        gaps, back = failovers(lab, args.runs, args.failure)
        print(summary("interruption", gaps, TARGET_SECONDS))
        print(summary("when the failed instance comes back", back))
        if args.quiet:
            flaps = quiet(lab, args.quiet, args.load)
            print(f"transitions in {args.quiet:g} s without a failure, {args.load} busy: {flaps}")
        print(f"median {statistics.median(gaps) * 1000:.0f} ms")
    finally:
        remove_tagged(tag, [directory])


if __name__ == "__main__":
    main()
