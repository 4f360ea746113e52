"""Did a flow get through? UDP datagrams, raw IP protocols, ICMPv6 types and TCP (a line-echo
server, sessions that stay open, one-shot exchanges), each between two namespaces: for the
security-group proofs (R13, ``render/nftables.py``) and east/west routing (R2).

Every probe answers with what the receiving side actually got, so a test asserting "dropped"
fails as soon as the packet arrives, and one asserting "passes" fails when it does not.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from v6fabric.drivers.commands import in_netns

# Receives on (address, port), a raw protocol or an ICMPv6 type for ``timeout`` seconds; prints
# "ready", then one line per datagram received, then exits. A raw ICMPv6 socket gets a copy of
# every ICMPv6 message (the kernel still answers echo requests itself).
_RECEIVER = """
import socket, sys, time
kind, address, number, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
family = socket.AF_INET6 if ':' in address else socket.AF_INET
if kind == 'udp':
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((address, number))
elif kind == 'icmp6':
    s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
else:
    s = socket.socket(family, socket.SOCK_RAW, number)
print('ready', flush=True)
deadline = time.monotonic() + timeout
while (left := deadline - time.monotonic()) > 0:
    s.settimeout(left)
    try:
        data, peer = s.recvfrom(2048)
    except socket.timeout:
        break
    if b'v6fabric-probe' in data and (kind != 'icmp6' or data[0] == number):
        print(peer[0], flush=True)
"""

_SENDER = """
import socket, sys, time
kind, address, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ':' in address else socket.AF_INET
payload = b'v6fabric-probe'
if kind == 'udp':
    s = socket.socket(family, socket.SOCK_DGRAM)
elif kind == 'icmp6':  # type, code 0, the checksum the kernel fills in, then the marker
    s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    payload = bytes([number, 0, 0, 0]) + payload
else:
    s = socket.socket(family, socket.SOCK_RAW, number)
for _ in range(3):
    s.sendto(payload, (address, number if kind == 'udp' else 0))
    time.sleep(0.1)
"""


def datagrams(
    kind: str, receiver_ns: str, address: str, sender_ns: str, number: int, wait: float = 1.5
) -> list[str]:
    """Sources of the probe datagrams that reached ``address``: UDP to port ``number``, IP
    protocol ``number`` or ICMPv6 messages of type ``number`` (``kind`` "udp", "raw" or
    "icmp6"). Empty when everything was dropped."""
    argv = [sys.executable, "-c", _RECEIVER, kind, address, str(number), str(wait)]
    receiver = subprocess.Popen(
        in_netns(argv, receiver_ns), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None
        first = receiver.stdout.readline().strip()
        assert first == "ready", (first, receiver.stderr.read() if receiver.stderr else "")
        send = [sys.executable, "-c", _SENDER, kind, address, str(number)]
        subprocess.run(in_netns(send, sender_ns), check=True, capture_output=True, timeout=10)
        out, _ = receiver.communicate(timeout=wait + 5)
        return out.split()
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()


# Echoes every line as "echo:" + line, on any number of connections; prints "listening", then
# the address of each client as it connects (what the server saw: routed or NATed).
_ECHO_SERVER = """
import socketserver, sys
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        sys.stdout.write(self.client_address[0] + '\\n')
        sys.stdout.flush()
        for line in self.rfile:
            self.wfile.write(b'echo:' + line)
class Server(socketserver.ThreadingTCPServer):
    import socket
    address_family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
    allow_reuse_address = True
    daemon_threads = True
server = Server((sys.argv[1], int(sys.argv[2])), Echo)
print('listening', flush=True)
server.serve_forever()
"""

# Connects, then for each line on stdin sends it and prints the reply (or "error: ...").
_SESSION = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    f = c.makefile('rwb')
    print('connected', flush=True)
except OSError as exc:
    print('error:', exc, flush=True)
    raise SystemExit(0)
for line in sys.stdin:
    try:
        f.write(line.encode()); f.flush()
        print(f.readline().decode().strip() or 'error: closed', flush=True)
    except OSError as exc:
        print('error:', exc, flush=True)
"""


class EchoServer:
    """A line-echo TCP server in ``namespace`` until ``close`` (or the end of a ``with``)."""

    def __init__(self, namespace: str, address: str, port: int) -> None:
        argv = [sys.executable, "-c", _ECHO_SERVER, address, str(port)]
        self.peers: list[IPv4Address | IPv6Address] | None = None
        self.proc = subprocess.Popen(
            in_netns(argv, namespace), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if first != "listening":
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"echo server on [{address}]:{port}: {first!r} {err}")

    def close(self) -> list[IPv4Address | IPv6Address]:
        """Stop it (once); the addresses of the clients it served, in order."""
        if self.peers is None:
            self.proc.kill()
            out, _ = self.proc.communicate()
            self.peers = [ip_address(peer) for peer in out.split()]
        return self.peers

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class TcpSession:
    """One TCP connection from ``namespace``; ``exchange`` sends a line and returns the reply."""

    def __init__(self, namespace: str, address: str, port: int, timeout: float = 2.0) -> None:
        argv = [sys.executable, "-c", _SESSION, address, str(port), str(timeout)]
        self.proc = subprocess.Popen(
            in_netns(argv, namespace),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.status = self.proc.stdout.readline().strip()

    @property
    def connected(self) -> bool:
        return self.status == "connected"

    def exchange(self, text: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.kill()
        self.proc.communicate()

    def __enter__(self) -> TcpSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def tcp_connects(namespace: str, address: str, port: int, timeout: float = 1.5) -> bool:
    """A new connection is accepted and echoes one line."""
    with TcpSession(namespace, address, port, timeout) as session:
        return session.connected and session.exchange("hello") == "echo:hello"


@dataclass(frozen=True)
class EchoResult:
    reply: str  # what the client got back ("" when it could not connect)
    peers: tuple[IPv4Address | IPv6Address, ...]  # the clients the server saw (routed, NATed)


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
    ``client_ns`` connecting to ``connect`` and sending ``message``."""
    with EchoServer(server_ns, listen, port) as server:
        with TcpSession(client_ns, connect, port, timeout) as session:
            reply = session.exchange(message) if session.connected else ""
        return EchoResult(reply, tuple(server.close()))
