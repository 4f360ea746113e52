"""An attacker's toolkit for the first-hop security proofs (R15, R16, R21), with scapy.

Frames are built here, in the test process, and sent as raw bytes by a small script run inside
the sending namespace (``send``; ``sending`` repeats them, as a router re-advertises): whatever
the namespace's kernel would refuse to emit (a foreign source MAC or address, an RA from a host)
leaves as built. ``Sniffer`` records, inside a namespace, every frame that arrives at one of its
interfaces (never the ones it sends itself) while it runs; the predicates below recognise one
attack's frame among them.

The builders take every address explicitly, so one module serves the hand-built namespaces of
``test_nft_ruleset.py``, the product's workloads and the upstream routers of
``test_r16_provider_ra_guard.py`` alike. Importing this module needs scapy: test modules call
``pytest.importorskip("scapy")`` before importing it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import DHCP6_Solicit
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw

from tests.e2e.conftest import eui64
from v6fabric.drivers.commands import in_netns, run

Predicate = Callable[[Ether], bool]
FOREIGN_MAC = "02:00:00:00:00:66"  # a MAC no port owns
ALL_NODES_MAC = "33:33:00:00:00:01"
ALL_ROUTERS_MAC = "33:33:00:00:00:02"
DHCP6_SERVERS_MAC = "33:33:00:01:00:02"


def link_local(mac: str) -> str:
    """The EUI-64 link-local address of ``mac`` (what a guest with addr_gen_mode 0 forms)."""
    return str(eui64("fe80::/64", mac))


# --- sending and sniffing -----------------------------------------------------------------------

_SNIFF = """
import select, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
frames = []
def take():
    data, addr = s.recvfrom(65535)
    if addr[2] != socket.PACKET_OUTGOING:
        frames.append(data.hex())
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [], 60)
    if not ready or sys.stdin in ready:
        break
    take()
s.setblocking(False)
while True:
    try:
        take()
    except BlockingIOError:
        break
print("\\n".join(frames), flush=True)
"""

# Sends the frames on stdin once, or with an interval argument every that many seconds until
# killed (as a router re-advertises).
_SEND = """
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frames = [bytes.fromhex(frame) for frame in sys.stdin.read().split()]
while True:
    for frame in frames:
        s.send(frame)
    if len(sys.argv) < 3:
        break
    time.sleep(float(sys.argv[2]))
"""


class Sniffer:
    """Every frame that arrives at ``ifname`` of namespace ``ns`` while it runs."""

    def __init__(self, ns: str, ifname: str = "eth0") -> None:
        self.proc = subprocess.Popen(
            in_netns([sys.executable, "-c", _SNIFF, ifname], ns),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> list[Ether]:
        out, _ = self.proc.communicate("", timeout=15)
        return [Ether(bytes.fromhex(line)) for line in out.split()]


def _hex(frames: Iterable[Packet]) -> str:
    return " ".join(bytes(f).hex() for f in frames)


def send(ns: str, frames: Iterable[Packet], ifname: str = "eth0") -> None:
    """Send ``frames`` as they are, from ``ifname`` inside namespace ``ns`` (a raw socket)."""
    run([sys.executable, "-c", _SEND, ifname], netns=ns, input=_hex(frames))


@contextmanager
def sending(
    ns: str, frames: Iterable[Packet], interval: float, ifname: str = "eth0"
) -> Iterator[None]:
    """``send`` again every ``interval`` seconds while the ``with`` block runs; fails if the
    sender died on the way (the frames stopped)."""
    argv = [sys.executable, "-c", _SEND, ifname, str(interval)]
    proc = subprocess.Popen(
        in_netns(argv, ns), stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(_hex(frames))
    proc.stdin.close()  # the end of the frames
    try:
        yield
    finally:
        died = proc.poll()
        proc.kill()
        proc.wait()
        with proc.stderr:
            err = proc.stderr.read()
        assert died is None, f"the sender exited with {died}: {err}"


# --- frames -------------------------------------------------------------------------------------


def ra(
    src_mac: str,
    src: str,
    prefix: str,
    *,
    hop_by_hop: bool = False,
    router_lifetime: int = 1800,
    dst_mac: str = ALL_NODES_MAC,
    dst: str = "ff02::1",
) -> Ether:
    """A router advertisement (high preference) with an autonomous on-link /64 ``prefix``."""
    ip = IPv6(src=src, dst=dst, hlim=255)
    advert = ICMPv6ND_RA(routerlifetime=router_lifetime, prf=1) / ICMPv6NDOptSrcLLAddr(
        lladdr=src_mac
    )
    advert = advert / ICMPv6NDOptPrefixInfo(
        prefix=prefix, prefixlen=64, L=1, A=1, validlifetime=3600, preferredlifetime=1800
    )
    return Ether(src=src_mac, dst=dst_mac) / (
        ip / IPv6ExtHdrHopByHop() / advert if hop_by_hop else ip / advert
    )


def rs(src_mac: str, src: str) -> Ether:
    """A router solicitation to all routers (a router answers with an RA)."""
    return (
        Ether(src=src_mac, dst=ALL_ROUTERS_MAC)
        / IPv6(src=src, dst="ff02::2", hlim=255)
        / ICMPv6ND_RS()
        / ICMPv6NDOptSrcLLAddr(lladdr=src_mac)
    )


def echo6(src_mac: str, dst_mac: str, src: str, dst: str, marker: bytes) -> Ether:
    """An ICMPv6 echo request carrying ``marker``, whatever its source MAC and address."""
    return Ether(src=src_mac, dst=dst_mac) / IPv6(src=src, dst=dst) / ICMPv6EchoRequest(data=marker)


def echo4(src_mac: str, dst_mac: str, src: str, dst: str, marker: bytes) -> Ether:
    """An ICMP echo request carrying ``marker``."""
    return Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst) / ICMP() / Raw(marker)


def dhcp6_server(
    message: type[Packet],
    src_mac: str,
    dst_mac: str,
    src: str,
    dst: str,
    trid: int,
    sport: int = 547,
) -> Ether:
    """A DHCPv6 server message (``DHCP6_Advertise``, ``DHCP6_Reply``) to a client's port 546,
    from the server port unless ``sport`` says otherwise."""
    return (
        Ether(src=src_mac, dst=dst_mac)
        / IPv6(src=src, dst=dst)
        / UDP(sport=sport, dport=546)
        / message(trid=trid)
    )


def dhcp6_solicit(src_mac: str, src: str, trid: int) -> Ether:
    """A DHCPv6 client's Solicit to All_DHCP_Relay_Agents_and_Servers."""
    return (
        Ether(src=src_mac, dst=DHCP6_SERVERS_MAC)
        / IPv6(src=src, dst="ff02::1:2")
        / UDP(sport=546, dport=547)
        / DHCP6_Solicit(trid=trid)
    )


def dhcp4_offer(
    src_mac: str, dst_mac: str, src: str, yiaddr: str, xid: int, sport: int = 67
) -> Ether:
    """A DHCPv4 Offer of ``yiaddr``, broadcast at IP level, to the client port 68."""
    return (
        Ether(src=src_mac, dst=dst_mac)
        / IP(src=src, dst="255.255.255.255")
        / UDP(sport=sport, dport=68)
        / BOOTP(op=2, xid=xid, yiaddr=yiaddr)
        / DHCP(options=[("message-type", "offer"), "end"])
    )


def na(
    src_mac: str,
    dst_mac: str,
    src: str,
    dst: str,
    target: str,
    lladdr: str,
    *,
    solicited: bool = False,
) -> Ether:
    """A neighbour advertisement with the override flag: "``target`` is at ``lladdr``"."""
    return (
        Ether(src=src_mac, dst=dst_mac)
        / IPv6(src=src, dst=dst, hlim=255)
        / ICMPv6ND_NA(tgt=target, R=0, S=int(solicited), O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=lladdr)
    )


def ns(src_mac: str, dst_mac: str, src: str, dst: str, target: str, lladdr: str) -> Ether:
    """A neighbour solicitation whose source link-layer option says ``lladdr``."""
    return (
        Ether(src=src_mac, dst=dst_mac)
        / IPv6(src=src, dst=dst, hlim=255)
        / ICMPv6ND_NS(tgt=target)
        / ICMPv6NDOptSrcLLAddr(lladdr=lladdr)
    )


def arp_request(src_mac: str, hwsrc: str, psrc: str, pdst: str) -> Ether:
    """A broadcast ARP request for ``pdst`` from ``psrc`` at ``hwsrc``, in a frame from
    ``src_mac`` (which need not be ``hwsrc``)."""
    return Ether(src=src_mac, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=hwsrc, psrc=psrc, pdst=pdst
    )


def arp_reply(src_mac: str, dst_mac: str, claimed: str, dst: str) -> Ether:
    """An ARP reply: "``claimed`` is at ``src_mac``"."""
    return Ether(src=src_mac, dst=dst_mac) / ARP(
        op=2, hwsrc=src_mac, psrc=claimed, hwdst=dst_mac, pdst=dst
    )


# --- recognising frames -------------------------------------------------------------------------


def has_prefix(frame: Ether, prefix: str) -> bool:
    """An RA announcing ``prefix`` (as scapy spells it: ``2001:db8:1::``)."""
    option = frame.getlayer(ICMPv6NDOptPrefixInfo)
    return frame.haslayer(ICMPv6ND_RA) and option is not None and option.prefix == prefix


def ra_with(prefix: str) -> Predicate:
    return lambda f: has_prefix(f, prefix)


def echo_with(marker: bytes) -> Predicate:
    return lambda f: f.haslayer(ICMPv6EchoRequest) and bytes(f[ICMPv6EchoRequest].data) == marker


def echo4_with(marker: bytes) -> Predicate:
    return lambda f: f.haslayer(ICMP) and bytes(f[ICMP].payload) == marker


def dhcp6_with(message: type[Packet], trid: int) -> Predicate:
    return lambda f: f.haslayer(message) and f[message].trid == trid


def bootp_with(xid: int) -> Predicate:
    """A DHCPv4 message to the client port (scapy dissects BOOTP only from port 67)."""
    return lambda f: (
        f.haslayer(IP)
        and f.haslayer(UDP)
        and f[UDP].dport == 68
        and BOOTP(bytes(f[UDP].payload)).xid == xid
    )


def na_for(target: str, src_mac: str) -> Predicate:
    """An NA for ``target`` sent from ``src_mac``."""
    return lambda f: f.haslayer(ICMPv6ND_NA) and f[ICMPv6ND_NA].tgt == target and f.src == src_mac


def source_lla(lladdr: str) -> Predicate:
    """A frame (an NS) whose source link-layer option is ``lladdr``."""
    return lambda f: f.haslayer(ICMPv6NDOptSrcLLAddr) and f[ICMPv6NDOptSrcLLAddr].lladdr == lladdr


def arp_claim(claimed: str, hwsrc: str, ether_src: str | None = None) -> Predicate:
    """An ARP packet saying "``claimed`` is at ``hwsrc``" (in a frame from ``ether_src``)."""
    return lambda f: (
        f.haslayer(ARP)
        and f[ARP].psrc == claimed
        and f[ARP].hwsrc == hwsrc
        and (ether_src is None or f.src == ether_src)
    )


def dhcp6_solicit_with(trid: int) -> Predicate:
    return dhcp6_with(DHCP6_Solicit, trid)
