"""Ping, daemons run by hand, and host inspection for the end-to-end proofs.

* ``pings`` / ``ping_stats`` / ``ContinuousPing``: ``ping`` inside a namespace, as a yes/no or
  parsed (sent, received and the hop limits of the replies: a reply that crossed one router
  arrives with 63, not 64). TCP and other flows are in ``probes.py``.
* ``dnsmasq_argv``: a DHCP server a test runs itself (the honest one of a hand-built network,
  or a rogue one).
* ``links``, ``namespace_inode``, ``pid_files``, ``processes_mentioning``: what the host has.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from v6fabric.drivers.commands import in_netns, read_pid, run

# --- ping ---------------------------------------------------------------------------------

_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")
_HOP_LIMIT = re.compile(r"\bttl=(\d+)")


@dataclass(frozen=True)
class PingResult:
    sent: int
    received: int
    hop_limits: tuple[int, ...]  # of the echo replies, as received
    output: str

    @property
    def lost(self) -> int:
        return self.sent - self.received


def parse_ping(output: str) -> PingResult:
    match = _SUMMARY.search(output)
    sent, received = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    hops = tuple(int(h) for h in _HOP_LIMIT.findall(output))
    return PingResult(sent, received, hops, output)


def ping_argv(
    address: str, count: int, interval: float, wait: float = 1, source: str | None = None
) -> list[str]:
    """``ping`` of ``address`` (``fe80::1%eth0`` for a link-local), from ``source`` if given."""
    family = "-6" if ":" in address else "-4"
    options = ["-n", "-c", str(count), "-i", str(interval), "-W", str(wait)]
    return ["ping", family, *options, *(["-I", source] if source else []), address]


def pings(namespace: str, address: str, count: int = 1, *, source: str | None = None) -> bool:
    """At least one of ``count`` echoes from ``namespace`` to ``address`` was answered."""
    argv = ping_argv(address, count, 0.2, source=source)
    return run(argv, netns=namespace, check=False, timeout=60).returncode == 0


def ping_stats(namespace: str, address: str, count: int = 3, interval: float = 0.2) -> PingResult:
    proc = run(ping_argv(address, count, interval), netns=namespace, check=False, timeout=60)
    return parse_ping(proc.stdout + proc.stderr)


class ContinuousPing:
    """``ping -i interval -c count`` running in ``namespace`` until ``result()``."""

    def __init__(self, namespace: str, address: str, count: int, interval: float = 0.05):
        self.proc = subprocess.Popen(
            in_netns(ping_argv(address, count, interval), namespace),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def result(self, timeout: float = 60) -> PingResult:
        out, _ = self.proc.communicate(timeout=timeout)
        return parse_ping(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


# --- what the host has ----------------------------------------------------------------------


def links(namespace: str | None) -> dict[str, int]:
    """Interface name -> ifindex in ``namespace`` (None: the root namespace)."""
    where = [] if namespace is None else ["-n", namespace]
    proc = run(["ip", *where, "-json", "link", "show"], check=False)
    if proc.returncode != 0:
        return {}
    return {link["ifname"]: link["ifindex"] for link in json.loads(proc.stdout or "[]")}


def namespace_inode(name: str) -> int | None:
    """The nsfs inode behind ``/run/netns/<name>``: a recreated namespace has another one."""
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def files_under(root: Path) -> list[str]:
    """Files left under root; os.walk skips directories the agent removes while we look."""
    return sorted(
        os.path.relpath(os.path.join(directory, name), root)
        for directory, _, names in os.walk(root)
        for name in names
    )


def pid_files(run_dir: Path) -> dict[str, int | None]:
    """Every ``*.pid`` under ``run_dir`` (relative path) -> its live pid or None."""
    return {
        name: read_pid(run_dir / name) for name in files_under(run_dir) if name.endswith(".pid")
    }


def processes_mentioning(text: str) -> dict[int, str]:
    """Live processes whose command line contains ``text`` (a run dir: its daemons)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            line = " ".join(a.decode(errors="replace") for a in argv if a)
            if text in line:
                status = (entry / "status").read_text()
                if "\nState:\tZ" not in status:
                    found[int(entry.name)] = line
    return found


# --- daemons run by hand ----------------------------------------------------------------------


def dnsmasq_argv(ifname: str, directory: Path, name: str, *options: str) -> list[str]:
    """A DHCP server a test runs itself on ``ifname``: no DNS, in the foreground, answering at
    once (authoritative), logging every DHCP exchange to ``directory/<name>.log`` (leases and
    pid file beside it); ``options`` say what it serves."""
    return [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--user=root",
        f"--interface={ifname}", "--bind-interfaces", "--log-dhcp", "--dhcp-authoritative",
        f"--log-facility={directory / f'{name}.log'}",
        f"--dhcp-leasefile={directory / f'{name}.leases'}",
        f"--pid-file={directory / f'{name}.pid'}",
        *options,
    ]  # fmt: skip
