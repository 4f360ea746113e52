"""R22 by traffic, agent level: an HA router on two hosts fails over (root only, no server).

The topology is ``ha_topology.HaLab``: router r1 on hosts a and b (keepalived VRRPv3 over the
HA network, unicast), the workload and the far host on host c, all over VXLAN. While the
workload pings the far host every 10 ms and holds a TCP session with it (a line every 20 ms),
the master fails three ways in turn: its keepalived is SIGKILLed (no hook runs: the watcher
takes its legs down), its underlay link goes down (it stays master alone; the other takes
over), then its whole host goes (namespaces and processes). Each time: traffic resumes through
the other instance, the TCP session carries on, and the interruption (the longest time without
an echo reply) is printed. The workload solicits RAs every 0.2 s, and a capture on host c's
underlay shows every RA with the host it came from; none came from a host while its hook had
it down (transition logs), so none from a backup and none while both were down. Nothing here
is timed: the figures are printed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("scapy")

from tests.e2e.conftest import wait_for
from tests.e2e.ha_probes import (
    RaCapture,
    Soliciting,
    TcpStream,
    TimedPing,
    backup_ras,
    uptime_offset,
)
from tests.e2e.ha_topology import ENDPOINT, FAR, HaLab
from tests.e2e.traffic import pings

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
    pytest.mark.skipif(
        not all(
            shutil.which(t) for t in ("ip", "bridge", "ping", "keepalived", "radvd", "tcpdump")
        ),
        reason="needs iproute2, ping, keepalived, radvd and tcpdump",
    ),
]


def failover(lab: HaLab, stream: TcpStream, fail: Callable[[], None], old: str) -> float:
    """Cause ``fail`` of master ``old``; wait for the other to be master and traffic to
    flow; the interruption seen by the 10 ms ping."""
    ping = TimedPing(lab.workload_ns, FAR)
    time.sleep(1.0)
    fail()
    other = "b" if old == "a" else "a"  # (a master cut off stays master on its own)
    wait_for("the other instance to be master", lambda: lab.states().get(other) == "active", 30)
    wait_for("traffic through the new master", lambda: pings(lab.workload_ns, FAR), 30)
    sent = stream.count
    wait_for("the TCP session to carry on", lambda: stream.progress(sent + 5), 60)
    time.sleep(0.5)
    gap, replies, transmitted = ping.stop()
    print(f"  replies {replies}/{transmitted}, interruption {gap:.3f} s")
    return gap


def test_an_ha_router_fails_over_three_ways_without_a_backup_ever_advertising(
    ns_tag: str, lab_dirs: tuple[Path, Path]
) -> None:
    run_dir, _ = lab_dirs
    lab = HaLab(ns_tag, run_dir)
    lab.build()
    offset = uptime_offset()
    capture = RaCapture.of(lab)
    soliciting = Soliciting(lab.workload_ns)
    stream = TcpStream(lab.workload_ns, lab.far_ns, FAR)
    figures: dict[str, float] = {}
    try:
        first = lab.master()
        assert first is not None
        print(f"\nmaster {first}: keepalived SIGKILLed")
        figures["keepalived killed"] = failover(
            lab, stream, lambda: lab.kill_keepalived(first), first
        )
        lab.converge(first)  # its agent comes back and starts keepalived: a backup now
        wait_for("the old master back as backup", lambda: lab.states().get(first) == "standby")

        second = lab.master()
        assert second is not None and second != first
        print(f"master {second}: underlay link down")
        figures["link down"] = failover(lab, stream, lambda: lab.link(second, False), second)
        ping = TimedPing(lab.workload_ns, FAR)
        lab.link(second, True)  # both masters meet again: one steps down
        wait_for("one master again", lambda: lab.master() is not None, 30)
        time.sleep(2.0)
        figures["link back (both masters meet)"], *_ = ping.stop()
        print(f"  link back: interruption {figures['link back (both masters meet)']:.3f} s")

        third = lab.master()
        assert third is not None
        print(f"master {third}: host removed")
        figures["host removed"] = failover(lab, stream, lambda: lab.remove_host(third), third)
    finally:
        soliciting.stop()
        ras = capture.stop_ras()
        stream.close()
    print("interruptions:", {k: round(v, 3) for k, v in figures.items()})
    print(f"RAs captured on host c's underlay: {len(ras)}")
    assert not stream.errors, stream.errors
    assert ras, "no RA captured at all: the capture proves nothing"
    logs = {ENDPOINT[host]: lab.transitions(host) for host in ("a", "b")}
    assert backup_ras(ras, logs, offset) == []
    assert pings(lab.workload_ns, FAR, count=3)
