"""What crosses a host's underlay: ``VxlanCapture`` records every VXLAN datagram on a host's
underlay link (tcpdump to a pcap file) and reads them back as ``Crossing``s: when, from which
tunnel endpoint, on which VNI, and the inner frame (scapy), for the HA and DVR proofs.

tcpdump runs in immediate mode: by default libpcap hands frames over a ring block at a time,
and frames still in an unfinished block when tcpdump is stopped are counted as "received by
filter" but never written (seen: 32 of 56 lost on a quiet link, so a test counted 3 of 5
echoes that did cross).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v6fabric.drivers.commands import in_netns

START_SECONDS = 30.0  # until tcpdump says it listens (a busy machine is slow to start it)


def tcpdump_listening(proc: subprocess.Popen, seconds: float) -> None:
    """Until tcpdump says "listening on" (its stderr a pipe); killed, and an error, if it exits
    or ``seconds`` pass first. Raw reads of the descriptor: a buffered ``readline()`` may take
    both of tcpdump's lines at once, and ``select()`` would then wait for bytes already read."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    said = b""
    deadline = time.monotonic() + seconds
    while b"listening on" not in said:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:  # exited or timed out
            proc.kill()
            proc.wait()
            raise AssertionError(f"tcpdump did not start: {said.decode(errors='replace')}")
        said += chunk


@dataclass(frozen=True)
class Crossing:
    """One frame that crossed the overlay: its time, the sending endpoint (outer source
    address), its VNI and its inner frame (scapy ``Ether``)."""

    time: float
    source: str
    vni: int
    frame: Any

    @property
    def src_mac(self) -> str:
        return str(self.frame.src).lower()

    @property
    def dst_mac(self) -> str:
        return str(self.frame.dst).lower()


class VxlanCapture:
    """Every VXLAN datagram on ``ifname`` in ``netns`` until ``stop``, kept in ``path``."""

    def __init__(self, netns: str, ifname: str, path: Path, snaplen: int = 512) -> None:
        self.path = path
        argv = ["tcpdump", "-i", ifname, "--immediate-mode", "-U", "-s", str(snaplen)]
        argv += ["-w", str(path), "udp port 4789"]
        self.proc = subprocess.Popen(
            in_netns(argv, netns), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        tcpdump_listening(self.proc, START_SECONDS)

    def stop(self) -> list[Crossing]:
        from scapy.layers.inet import IP
        from scapy.layers.inet6 import IPv6
        from scapy.layers.l2 import Ether
        from scapy.layers.vxlan import VXLAN
        from scapy.utils import PcapReader

        self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=30)
        found = []
        with PcapReader(str(self.path)) as frames:
            for frame in frames:
                if VXLAN not in frame or not isinstance(frame[VXLAN].payload, Ether):
                    continue
                outer = frame[IPv6] if IPv6 in frame else frame[IP]
                inner = frame[VXLAN].payload
                found.append(Crossing(float(frame.time), outer.src, int(frame[VXLAN].vni), inner))
        return found
