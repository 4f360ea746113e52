"""Measurements for the L3 HA proofs (``test_r22_l3_ha*.py``, ``bench/ha_failover.py``).

* ``TimedPing``: ``ping -D`` every 10 ms; the longest time without a reply is the interruption.
* ``RaCapture``: tcpdump of VXLAN on a host's underlay link: every RA, its time and the
  endpoint (host) it came from.
* ``Soliciting``: the workload sends an RS every 0.2 s, so an instance that advertises when it
  must not answers at once.
* ``TcpStream``: a TCP session exchanging a line every 20 ms in a thread.
* ``transitions`` / ``backup_ras``: the notify hooks' logs and the RAs that came from a host
  whose hook had its instance down at that moment (``uptime_offset``: the logs' clock).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.e2e.probes import EchoServer, TcpSession
from tests.e2e.underlay import VxlanCapture
from v6fabric.agent import vrrp
from v6fabric.agent.layout import Layout
from v6fabric.drivers.commands import in_netns

if TYPE_CHECKING:
    from tests.e2e.ha_topology import HaLab

ECHO_PORT = 7007


def transitions(run_dir: Path, namespace: str) -> list[tuple[float, str]]:
    """An instance's hook log: (uptime, transition), oldest first; a stale hook's entry (a
    transition keepalived had already left when its hook got the lock: it did nothing) is
    left out."""
    paths = vrrp.hook_paths(Layout(run_dir), namespace)
    try:
        lines = Path(paths.transitions).read_text().splitlines()
    except OSError:
        return []
    found = [(float(at), what) for at, what in (line.split() for line in lines)]
    return [(at, what) for at, what in found if not what.startswith("STALE-")]


def hook_log(run_dir: Path, namespace: str) -> str:
    """An instance's hook log as written, stale hooks' entries too, on one line."""
    try:
        text = Path(vrrp.hook_paths(Layout(run_dir), namespace).transitions).read_text()
    except OSError:
        return ""
    return ", ".join(text.splitlines())


DOWN_STATES = {"BACKUP", "FAULT", "STOP", "KEEPALIVED-GONE"}
CLOCK_STEP = 0.02  # the hooks' clock (/proc/uptime) has 10 ms steps, the offset as much again
CAPTURE_SLACK = 0.05  # an RA sent just before a hook's kill is captured a little later


def backup_ras(
    ras: list[tuple[float, str]],
    logs: dict[str, list[tuple[float, str]]],
    offset: float,
) -> list[str]:
    """RAs (wall clock, sending endpoint) from an endpoint whose instance's last transition
    before them took it down (``logs``: endpoint -> its hook log, in uptime; ``offset``: wall
    clock minus uptime). An endpoint without a log sent an RA it had no business sending."""
    found = []
    for at, source in ras:
        when = at - offset
        before = [t for t in logs.get(source, []) if t[0] <= when + CLOCK_STEP]
        if not before or (before[-1][1] in DOWN_STATES and when - before[-1][0] > CAPTURE_SLACK):
            found.append(f"RA from {source} at {when:.2f}, after {before[-1:] or 'nothing'}")
    return found


def uptime_offset() -> float:
    """Wall clock minus /proc/uptime (the hooks' clock), to 10 ms."""
    with open("/proc/uptime") as uptime:
        return time.time() - float(uptime.read().split()[0])


_REPLY = re.compile(r"^\[(\d+\.\d+)\].*icmp_seq=(\d+)", re.M)


class TimedPing:
    """``ping -D -i 0.01`` from ``namespace`` until ``stop``: the longest time without a reply."""

    def __init__(self, namespace: str, address: str, interval: float = 0.01) -> None:
        argv = ["ping", "-6", "-n", "-D", "-i", str(interval), "-W", "1", address]
        self.proc = subprocess.Popen(
            in_netns(argv, namespace), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.started = time.time()

    def stop(self) -> tuple[float, int, int]:
        """(longest time without a reply in seconds, replies, the highest sequence sent).

        The time since the last reply counts too: without it an interruption that lasts
        until ``stop`` (traffic gone for good) measured as the gaps before it (20 ms)."""
        stopped = time.time()
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        replies = [(float(at), int(seq)) for at, seq in _REPLY.findall(out)]
        times = [self.started] + [at for at, _ in replies] + [stopped]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        sent = re.search(r"(\d+) packets transmitted", out)
        return (
            max(gaps) if gaps else float("inf"),
            len(replies),
            int(sent.group(1)) if sent else 0,
        )


class RaCapture(VxlanCapture):
    """Every RA that crossed a host's underlay, its time and the endpoint it came from
    (``of``: host c's of an ``HaLab``)."""

    def __init__(self, netns: str, ifname: str, path: Path) -> None:
        super().__init__(netns, ifname, path, snaplen=256)

    @classmethod
    def of(cls, lab: HaLab) -> RaCapture:
        return cls(lab.netns("c"), "ul0", lab.run_dir / "ra.pcap")

    def stop_ras(self) -> list[tuple[float, str]]:
        """Stops the capture: the RAs, as (wall clock, sending endpoint)."""
        from scapy.layers.inet6 import ICMPv6ND_RA

        return [(c.time, c.source) for c in super().stop() if ICMPv6ND_RA in c.frame]


class Soliciting:
    """The workload sends a router solicitation every ``interval`` (``rdisc6``) until
    ``stop``: whatever instance has radvd running and its legs up answers at once (a unicast
    RA), so an instance that advertises when it must not is seen within that time, not at its
    next unsolicited RA (3-10 s)."""

    def __init__(self, namespace: str, interval: float = 0.2) -> None:
        self.argv = in_netns(["rdisc6", "-1", "-q", "-r", "1", "-w", "100", "eth0"], namespace)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            subprocess.run(self.argv, capture_output=True, check=False, timeout=10)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(20)


class TcpStream:
    """A TCP session from ``client`` to ``server`` (namespaces) at ``address``, exchanging a
    line every 20 ms in a thread: it survives a failover when every line comes back and it
    keeps going."""

    def __init__(self, client: str, server: str, address: str) -> None:
        self.server = EchoServer(server, address, ECHO_PORT)
        self.session = TcpSession(client, address, ECHO_PORT, timeout=60)
        assert self.session.connected, self.session.status
        self.errors: list[str] = []
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            line = f"line-{self.count}"
            reply = self.session.exchange(line)
            if reply != f"echo:{line}":
                self.errors.append(reply)
                return
            self.count += 1
            time.sleep(0.02)

    def progress(self, after: int) -> bool:
        return self.count > after

    def close(self) -> None:
        self._stop.set()
        self._thread.join(70)
        self.session.close()
        self.server.close()


def lab_picture(
    hosts: list[tuple[str, str, str, Path]], workloads: list[str], macs: set[str]
) -> str:
    """What decides where a frame to the router goes, for a failure's report: per host
    (``(name, host netns, its router instance's namespace or "", run dir)``) the VXLAN devices'
    entries for ``macs`` (learnt or ours), the router instance's legs, its hook's state and
    transitions and its daemons; per workload namespace its neighbours and routes."""
    lines = []
    wanted = {mac.lower() for mac in macs}
    for name, netns, router_ns, run_dir in hosts:
        lines.append(f"== {name} ({netns})")
        fdb = subprocess.run(
            ["bridge", "-n", netns, "fdb", "show"], capture_output=True, text=True, check=False
        ).stdout
        lines += [
            f"  fdb {entry}"
            for entry in fdb.splitlines()
            if entry.split()[:1] and entry.split()[0] in wanted
        ]
        if not router_ns:
            continue
        for argv in (["-br", "link"], ["-br", "addr"], ["-6", "neigh"]):
            out = subprocess.run(
                ["ip", "-n", router_ns, *argv], capture_output=True, text=True, check=False
            )
            lines += [f"  {argv[-1]} {row}" for row in (out.stdout + out.stderr).splitlines()]
        paths = vrrp.hook_paths(Layout(run_dir), router_ns)
        for label, path in (
            ("state", paths.state),
            ("radvd.pid", paths.radvd_pid),
            ("keepalived vrrp.pid", paths.keepalived_vrrp_pid),
        ):
            try:
                text = Path(path).read_text().strip()
            except OSError as exc:
                text = f"({exc.strerror})"
            alive = text.isdigit() and Path(f"/proc/{text}").exists()
            lines.append(f"  {label}: {text}{' (alive)' if alive else ''}")
        lines.append(f"  transitions: {hook_log(run_dir, router_ns)}")
        log = Path(paths.state).with_name("keepalived.log")
        with contextlib.suppress(OSError):
            lines += [f"  keepalived: {row}" for row in log.read_text().splitlines()[-25:]]
    for namespace in workloads:
        lines.append(f"== workload {namespace}")
        for argv in (["-6", "neigh"], ["-6", "route"], ["-br", "addr"]):
            out = subprocess.run(
                ["ip", "-n", namespace, *argv], capture_output=True, text=True, check=False
            )
            lines += [f"  {argv[-1]} {row}" for row in out.stdout.splitlines()]
    return "\n".join(lines)
