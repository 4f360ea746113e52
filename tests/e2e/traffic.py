"""Traffic and host-inspection helpers for the end-to-end proofs (R2, agent restart, teardown).

* ``ping_stats`` / ``ContinuousPing``: ``ping`` inside a workload, parsed (sent, received and the
  hop limits of the replies: a reply that crossed one router arrives with 63, not 64).
* ``tcp_echo``: a one-shot TCP echo server in one namespace, a client in another; returns what
  came back and the client address the server saw (routing, no NAT).
* ``links``, ``namespace_inode``, ``pid_files``, ``processes_mentioning``: what the host has.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
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


def ping_argv(address: str, count: int, interval: float, wait: float = 1) -> list[str]:
    family = "-6" if ":" in address else "-4"
    return ["ping", family, "-n", "-c", str(count), "-i", str(interval), "-W", str(wait), address]


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


# --- TCP ----------------------------------------------------------------------------------

# One connection: read until the client shuts its side, answer "echo:" + data, and print the
# client address (without the port) on stdout. The "listening" line tells the test it may connect.
_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(float(sys.argv[3]))
print('listening', flush=True)
c, peer = s.accept()
c.settimeout(float(sys.argv[3]))
data = b''
while True:
    chunk = c.recv(65536)
    if not chunk:
        break
    data += chunk
c.sendall(b'echo:' + data)
c.close()
print(peer[0], flush=True)
"""

_CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[4]))
c.sendall(sys.argv[3].encode())
c.shutdown(socket.SHUT_WR)
reply = b''
while True:
    chunk = c.recv(65536)
    if not chunk:
        break
    reply += chunk
sys.stdout.write(reply.decode())
"""


@dataclass(frozen=True)
class EchoResult:
    reply: str  # what the client got back ("" when it could not connect)
    peer: str  # the client address the server saw ("" when nothing connected)
    client_error: str = ""


def tcp_echo(
    server_ns: str,
    listen: str,
    client_ns: str,
    connect: str,
    message: str,
    port: int = 7007,
    timeout: float = 5,
) -> EchoResult:
    """One TCP exchange: a server in ``server_ns`` listening on ``listen``, a client in
    ``client_ns`` connecting to ``connect``."""
    server = subprocess.Popen(
        in_netns([sys.executable, "-c", _SERVER, listen, str(port), str(timeout)], server_ns),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline().strip()
        assert first == "listening", (first, server.stderr.read() if server.stderr else "")
        client = run(
            [sys.executable, "-c", _CLIENT, connect, str(port), message, str(timeout)],
            netns=client_ns,
            check=False,
            timeout=timeout + 10,
        )
        try:
            rest, _ = server.communicate(timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            rest = ""
        return EchoResult(client.stdout, rest.strip(), client.stderr.strip())
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


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


def pid_files(run_dir: Path) -> dict[str, int | None]:
    """Every ``*.pid`` under ``run_dir`` (relative path) -> its live pid or None."""
    return {
        str(path.relative_to(run_dir)): read_pid(path) for path in sorted(run_dir.rglob("*.pid"))
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
