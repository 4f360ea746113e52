"""R15, R16, R21 through the product: first-hop security proven by an attacker workload's traffic.

Everything is made through the API and realised by the real agent (``tests/e2e/lab.py``): one
network with a SLAAC IPv6 subnet behind a router (RAs come from the router's ``qr-`` port) and
an IPv4 subnet (DHCPv4), three workloads (victim, peer, attacker) in a group that lets every
flow in and out, so that only the first-hop guards can stop anything. The attacker sends frames
built with scapy (``tests/e2e/attacks.py``) from inside its own workload namespace; raw sockets
in the victim and the peer record what arrives, and the victim's kernel (addresses, routes,
neighbour cache) shows what the attacks did. Every proof has a positive control, so it can
fail: the same frames pass once port security is switched off through the API.

* R15 source guard: from the attacker, echoes with the victim's IPv6 or link-local address, an
  address outside its fixed IPs and pairs, a foreign source MAC (and an ARP request in a frame
  from a foreign MAC), the victim's or an unknown IPv4 address never reach the peer, while its
  own (IPv6, link-local, IPv4) do. An address added as an allowed address pair (PUT) passes
  once the agent applied it, ND for it included (the peer answers a ping from it). Port
  security off (PUT): every spoof arrives; on again: dropped.
* R16 RA guard: the attacker's RAs (multicast, behind a hop-by-hop header, unicast) for rogue
  prefixes never reach the victim, which configures neither the prefixes nor a default route
  via the attacker, while the router's RA (the answer to the victim's RS) does arrive and its
  prefix is configured. Still so with only the attacker's port security off (the guard towards
  a guarded port) and with only the victim's off (the attacker's own port guard); with both
  off, the same RAs arrive and the victim takes the rogue prefixes and default route.
* R21 ND and DHCP guards: an unsolicited NA "the peer's address is at the attacker", one to all
  nodes for the router's link-local, an NS with a foreign link-layer option, an ARP reply for the
  peer's IPv4 address, DHCPv6 Advertise and Reply and a DHCPv4 Offer (also from source ports
  other than the servers') do not reach the victim and its neighbour caches stay right; the
  attacker's own NS does. Port security off: all arrive and the victim's caches are poisoned.
  With real daemons: a rogue dnsmasq in the attacker's workload on a DHCPv6-stateful network
  answers the victim's dhclient (preference 255, an address of the network's prefix); the
  victim, booted after the rogue started and soliciting again under capture, hears only the
  DHCP port and holds only the API's address. Attacker unguarded: the rogue's Advertises arrive.
* What must keep working: every workload's addresses finish DAD, the workloads ping each other
  and the router's gateway, the bridge learnt each one's solicited-node group from its MLD
  reports, and DAD detects a duplicate of an address two ports share as an allowed pair (not
  before the pairs exist: a port's DAD for an address it does not own is dropped). A
  DHCPv6-stateful network: guarded workloads get the API's addresses from the DHCP port.
* Every test runs twice: alone, and beside another tenant network with the same prefixes and
  workloads with the same MACs (same addresses) on the same host. The DHCPv6-stateful tests
  build that tenant's twin of their network: its clients (same MACs, so the same DUIDs) get
  exactly their own leases from their own DHCP port, and the rogue never hears or reaches them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.lab import SLAAC, STATEFUL, Lab, default_routers, fixed_ip
from tests.e2e.lab_api import open_group
from tests.e2e.traffic import dnsmasq_argv, pings
from v6fabric.drivers.commands import pid_alive, read_pid, run, spawn
from v6fabric.hoststate.model import tap_name
from v6fabric.workloads.paths import WorkloadPaths

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces")
pytest.importorskip("scapy")

from scapy.layers.dhcp6 import DHCP6_Advertise, DHCP6_Reply  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

from tests.e2e.attacks import (  # noqa: E402
    ALL_NODES_MAC,
    FOREIGN_MAC,
    Predicate,
    Sniffer,
    arp_claim,
    arp_reply,
    arp_request,
    bootp_with,
    dhcp4_offer,
    dhcp6_server,
    dhcp6_with,
    echo4,
    echo4_with,
    echo6,
    echo_with,
    link_local,
    na,
    na_for,
    ns,
    ra,
    ra_with,
    rs,
    send,
    source_lla,
)

CIDR6, CIDR4 = "2001:db8:f5::/64", "10.95.0.0/24"
LEGIT_PREFIX = "2001:db8:f5::"  # as scapy spells an RA's prefix
OUTSIDE6, OUTSIDE4 = "2001:db8:f5::bad", "10.95.0.250"  # nobody's, never a pair
PAIR = "2001:db8:f5::beef"  # becomes the attacker's allowed address pair
VIP = "2001:db8:f5::7"  # shared by the victim and the peer as a pair (DAD proof)
ROGUE = {"multicast": "2001:db8:bad::", "hop-by-hop": "2001:db8:bbb::", "unicast": "2001:db8:bcd::"}
CIDR6_STATEFUL = "2001:db8:f7::/64"  # the rogue DHCPv6 server's network
CIDR6_DHCP = "2001:db8:f6::/64"  # the leases-through-the-guards network
ROGUE_SERVER = "2001:db8:f7::bad:1"  # the attacker gives itself this address (source-guarded)
# The rogue's 256 addresses: the API draws from the whole /64 at random, so practically never.
ROGUE_POOL = "2001:db8:f7::bad:100,2001:db8:f7::bad:1ff"


@pytest.fixture(params=["alone", "beside-an-overlapping-tenant"])
def clean(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """Each attack test runs twice: alone on the host, and beside another tenant's network with
    the same prefixes and workloads with the same MACs (so the same addresses and link-locals)
    on the same host: guards are per port, conntrack zones per network, nothing may mix."""
    lab.overlapping = request.param != "alone"  # type: ignore[attr-defined]
    yield lab
    lab.reset()


# --- the scene ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A workload with one port, and what the API says about that port."""

    name: str
    port: dict[str, Any]
    workload: dict[str, Any]

    @property
    def ns(self) -> str:
        return self.workload["namespace"]

    @property
    def mac(self) -> str:
        return self.port["mac_address"]

    @property
    def ll(self) -> str:
        return link_local(self.mac)

    @property
    def tap(self) -> str:
        return tap_name(self.port["id"])

    @property
    def ip6(self) -> str:
        return fixed_ip(self.port, 6)

    @property
    def ip4(self) -> str:
        return fixed_ip(self.port, 4)


@dataclass(frozen=True)
class Scene:
    lab: Lab
    gateway: str
    router_mac: str
    victim: Member
    peer: Member
    attacker: Member

    @property
    def router_ll(self) -> str:
        return link_local(self.router_mac)

    def members(self) -> tuple[Member, ...]:
        return (self.victim, self.peer, self.attacker)


def join(lab: Lab, net: dict[str, Any], group: dict[str, Any], name: str, **attrs: Any) -> Member:
    """A workload on a new port of ``net`` in ``group`` (``attrs``: more of the port's)."""
    port = lab.port(net, name=name, security_groups=[group["id"]], **attrs)
    return Member(name, port, lab.workload(name, port))


def build_scene(lab: Lab) -> Scene:
    group = open_group(lab, "fhs-open")
    net = lab.network(name="fhs")
    subnet6 = lab.subnet(net, CIDR6, **SLAAC)
    lab.subnet(net, CIDR4)
    router = lab.router(subnet6, name="fhs")
    members = [join(lab, net, group, name) for name in ("victim", "peer", "attacker")]
    lab.wait_active(*(m.port for m in members))
    (router_port,) = lab.call("GET", f"/v2.0/ports?device_id={router['id']}")["ports"]
    scene = Scene(lab, subnet6["gateway_ip"], router_port["mac_address"], *members)
    twins = build_twins(lab, members) if getattr(lab, "overlapping", False) else []
    for member in [*members, *twins]:
        lab.wait_addresses(member.workload, member.ll, member.ip6)
    return scene


def build_twins(lab: Lab, members: list[Member]) -> list[Member]:
    """Another tenant's network on this host with the same prefixes, a router of its own, and a
    workload per member with the member's MAC: the same EUI-64 and link-local addresses."""
    group = open_group(lab, "fhs-twin")
    net = lab.network(name="fhs-twin")
    subnet6 = lab.subnet(net, CIDR6, **SLAAC)
    lab.subnet(net, CIDR4)
    lab.router(subnet6, name="fhs-twin")
    twins = [join(lab, net, group, f"twin-{m.name}", mac_address=m.mac) for m in members]
    lab.wait_active(*(t.port for t in twins))
    return twins


def stateful_network(lab: Lab, name: str, cidr: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(network, open group): a DHCPv6-stateful subnet behind a router, whose RA (M=1) makes
    each workload's guest agent run a DHCPv6 client."""
    group = open_group(lab, name)
    net = lab.network(name=name)
    subnet = lab.subnet(net, cidr, **STATEFUL)
    lab.router(subnet, name=name)
    return net, group


def dhcp_port_mac(lab: Lab, net: dict[str, Any]) -> str:
    """The MAC of ``net``'s DHCP port: its server answers from this MAC's link-local."""
    query = f"/v2.0/ports?network_id={net['id']}&device_owner=network:dhcp"
    (dhcp_port,) = lab.call("GET", query)["ports"]
    return dhcp_port["mac_address"]


# --- attacks and what arrives -------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """A frame ``sender`` sends, and what recognises it at ``receiver``."""

    frame: Ether
    sender: Member
    receiver: Member
    seen: Predicate


def arrivals(plan: dict[str, Probe], window: float = 0.3) -> set[str]:
    """Send every probe of ``plan`` once; the names of those that reached their receiver."""
    receivers = {p.receiver.ns for p in plan.values()}
    sniffers = {ns: Sniffer(ns) for ns in sorted(receivers)}
    captured: dict[str, list[Ether]] = {}
    try:
        for sender in sorted({p.sender.ns for p in plan.values()}):
            send(sender, [p.frame for p in plan.values() if p.sender.ns == sender])
        time.sleep(window)
    finally:
        for ns, sniffer in sniffers.items():
            captured[ns] = sniffer.stop()
    return {name for name, p in plan.items() if any(p.seen(f) for f in captured[p.receiver.ns])}


def guarded_arrivals(plan: dict[str, Probe], allowed: set[str], tries: int = 4) -> set[str]:
    """``arrivals``, sent again (with a longer window) while only some ``allowed`` probes came
    through: a missing one may just be late on a loaded machine, while any probe outside
    ``allowed`` fails at once (a guard that leaks once leaks)."""
    got = arrivals(plan)
    for attempt in range(1, tries):
        if not got < allowed:
            break
        got = arrivals(plan, window=0.3 * (attempt + 1))
    return got


def wait_arrivals(
    what: str, plan: dict[str, Probe], expected: set[str], timeout: float = 15, window: float = 0.3
) -> None:
    """Repeat ``plan`` until exactly ``expected`` arrives (the agent applies an update)."""
    last: set[str] = set()

    def probe() -> bool:
        nonlocal last
        last = arrivals(plan, window)
        return last == expected

    try:
        wait_for(what, probe, timeout)
    except AssertionError as exc:
        missing, extra = sorted(expected - last), sorted(last - expected)
        raise AssertionError(f"{exc}; last round: missing {missing}, unexpected {extra}") from None


def neighbour_mac(member: Member, address: str) -> str | None:
    """The link-layer address ``member``'s eth0 holds for ``address`` (any usable state)."""
    family = "-6" if ":" in address else "-4"
    out = run(["ip", "-j", family, "neigh", "show", "to", address, "dev", "eth0"], netns=member.ns)
    for entry in json.loads(out.stdout or "[]"):
        if "lladdr" in entry and "FAILED" not in entry.get("state", []):
            return entry["lladdr"]
    return None


def set_port_security(lab: Lab, member: Member, enabled: bool) -> None:
    """Neutron refuses port security off while the port keeps groups or address pairs; on
    again, the port gets back the groups it was created with."""
    if enabled:
        attrs: dict[str, Any] = {"security_groups": member.port["security_groups"]}
    else:
        attrs = {"security_groups": [], "allowed_address_pairs": []}
    port = lab.update("port", member.port["id"], port_security_enabled=enabled, **attrs)
    assert port["port_security_enabled"] is enabled


# --- R15 ----------------------------------------------------------------------------------------


def test_r15_source_guard_drops_spoofed_sources_and_follows_pairs_and_port_security(
    clean: Lab,
) -> None:
    scene = build_scene(clean)
    lab, a, p, v = clean, scene.attacker, scene.peer, scene.victim

    def echo(name: str, src_mac: str, src: str) -> Probe:
        marker = name.encode()
        if ":" in src:
            dst = p.ll if ipaddress.ip_address(src).is_link_local else p.ip6
            return Probe(echo6(src_mac, p.mac, src, dst, marker), a, p, echo_with(marker))
        return Probe(echo4(src_mac, p.mac, src, p.ip4, marker), a, p, echo4_with(marker))

    sources = {  # name: (source MAC, source address) of an echo to the peer
        "own IPv6 address": (a.mac, a.ip6),
        "own link-local": (a.mac, a.ll),
        "own IPv4 address": (a.mac, a.ip4),
        "victim's IPv6 address": (a.mac, v.ip6),
        "victim's link-local": (a.mac, v.ll),
        "address outside fixed IPs and pairs": (a.mac, OUTSIDE6),
        "the pair's address": (a.mac, PAIR),
        "foreign source MAC": (FOREIGN_MAC, a.ip6),
        "victim's IPv4 address": (a.mac, v.ip4),
        "unknown IPv4 address": (a.mac, OUTSIDE4),
    }
    plan = {name: echo(name, mac, src) for name, (mac, src) in sources.items()}
    # Only the MAC guard can stop this one: the ARP body is the attacker's own.
    plan["foreign source MAC, ARP"] = Probe(
        arp_request(FOREIGN_MAC, a.mac, a.ip4, p.ip4),
        a,
        p,
        arp_claim(a.ip4, a.mac, ether_src=FOREIGN_MAC),
    )
    own = {"own IPv6 address", "own link-local", "own IPv4 address"}
    got = guarded_arrivals(plan, own)
    assert got == own, f"guarded: only the attacker's own sources reach the peer, not {got}"

    # The address itself, configured: not usable (the peer never answers) until it is a pair.
    run(["ip", "addr", "add", f"{PAIR}/128", "dev", "eth0", "nodad"], netns=a.ns)
    assert not pings(a.ns, p.ip6, source=PAIR)
    port = lab.update("port", a.port["id"], allowed_address_pairs=[{"ip_address": PAIR}])
    assert port["allowed_address_pairs"] == [{"ip_address": PAIR, "mac_address": a.mac}]
    wait_arrivals("the pair's address allowed", plan, own | {"the pair's address"})
    # Both ways, ND included: the peer resolves PAIR and the attacker's NA for it passes.
    assert wait_for("a ping from the pair's address", lambda: pings(a.ns, p.ip6, source=PAIR), 5)

    # Positive control: port security off, every spoofed frame reaches the peer.
    set_port_security(lab, a, False)
    wait_arrivals("port security off: everything arrives", plan, set(plan))
    set_port_security(lab, a, True)
    wait_arrivals("port security on again: spoofs dropped", plan, own)
    assert not pings(a.ns, p.ip6, source=PAIR), "the pair went with port security off"


# --- R16 ----------------------------------------------------------------------------------------


def test_r16_ra_guard_keeps_rogue_prefixes_and_routes_off_the_victim(clean: Lab) -> None:
    scene = build_scene(clean)
    lab, a, v = clean, scene.attacker, scene.victim
    plan = {
        "rogue RA": Probe(ra(a.mac, a.ll, ROGUE["multicast"]), a, v, ra_with(ROGUE["multicast"])),
        "rogue RA behind a hop-by-hop header": Probe(
            ra(a.mac, a.ll, ROGUE["hop-by-hop"], hop_by_hop=True),
            a,
            v,
            ra_with(ROGUE["hop-by-hop"]),
        ),
        "rogue RA unicast to the victim": Probe(
            ra(a.mac, a.ll, ROGUE["unicast"], dst_mac=v.mac, dst=v.ll),
            a,
            v,
            ra_with(ROGUE["unicast"]),
        ),
        # The victim solicits: the router's answer must arrive (the sniffer can see RAs).
        "router's RA": Probe(rs(v.mac, v.ll), v, v, ra_with(LEGIT_PREFIX)),
        # Spoofs that arrive only from an unguarded port: tell when an update was applied.
        "attacker's spoof": Probe(
            echo6(a.mac, v.mac, OUTSIDE6, v.ip6, b"r16-a"), a, v, echo_with(b"r16-a")
        ),
        "victim's spoof": Probe(
            echo6(v.mac, a.mac, OUTSIDE6, a.ip6, b"r16-v"), v, a, echo_with(b"r16-v")
        ),
    }

    def rogue_state() -> tuple[set[str], set[str]]:
        """The victim's addresses in rogue prefixes, and its IPv6 default routers."""
        nic = lab.guest(v.workload).interfaces["eth0"]
        prefixes = [ipaddress.ip_network(f"{prefix}/64") for prefix in ROGUE.values()]
        taken = {
            str(x.interface.ip) for x in nic.ipv6 if any(x.interface.ip in n for n in prefixes)
        }
        return taken, default_routers(nic)

    honest = (set(), {scene.router_ll})
    wait_arrivals("the router's RA, nothing rogue", plan, {"router's RA"}, window=1.0)
    assert rogue_state() == honest, "the victim only follows the router"
    lab.wait_addresses(v.workload, v.ip6)  # the router's prefix, configured

    # Each side's guard on its own: the attacker unguarded (the guard towards the victim's
    # port drops its RAs), then the victim unguarded (the attacker's port guard drops them).
    set_port_security(lab, a, False)
    expected = {"router's RA", "attacker's spoof"}
    wait_arrivals("the attacker unguarded, its RAs dropped", plan, expected, window=1.0)
    assert rogue_state() == honest
    set_port_security(lab, a, True)
    set_port_security(lab, v, False)
    expected = {"router's RA", "victim's spoof"}
    wait_arrivals("the victim unguarded, the attacker's RAs dropped", plan, expected, window=1.0)
    assert rogue_state() == honest

    # Positive control: neither guarded, the same RAs arrive and the victim obeys them.
    set_port_security(lab, a, False)
    wait_arrivals("no guard: rogue RAs arrive", plan, set(plan), window=1.0)
    taken, routers = rogue_state()
    assert len(taken) == len(ROGUE), taken
    assert routers == {scene.router_ll, a.ll}


# --- R21 ----------------------------------------------------------------------------------------


def test_r21_nd_and_dhcp_guards_protect_the_victim(clean: Lab) -> None:
    scene = build_scene(clean)
    lab, a, p, v = clean, scene.attacker, scene.peer, scene.victim
    for member in (v, p):
        lab.wait_guest(
            member.workload,
            f"IPv4 {member.ip4}",
            lambda view, m=member: any(
                str(x.interface.ip) == m.ip4 for x in view.interfaces["eth0"].ipv4
            ),
        )
    trid, xid = 0x2121, 0x2121
    plan = {
        "NA: the peer's address is at the attacker": Probe(
            na(a.mac, v.mac, a.ip6, v.ip6, p.ip6, a.mac), a, v, na_for(p.ip6, a.mac)
        ),
        "NA to all nodes: the router is at the attacker": Probe(
            na(a.mac, ALL_NODES_MAC, a.ll, "ff02::1", scene.router_ll, a.mac),
            a,
            v,
            na_for(scene.router_ll, a.mac),
        ),
        "NS with a foreign link-layer option": Probe(
            ns(a.mac, v.mac, a.ip6, v.ip6, v.ip6, FOREIGN_MAC), a, v, source_lla(FOREIGN_MAC)
        ),
        "ARP reply: the peer's IPv4 address is at the attacker": Probe(
            arp_reply(a.mac, v.mac, p.ip4, v.ip4), a, v, arp_claim(p.ip4, a.mac)
        ),
        "DHCPv6 Advertise": Probe(
            dhcp6_server(DHCP6_Advertise, a.mac, v.mac, a.ll, v.ll, trid),
            a,
            v,
            dhcp6_with(DHCP6_Advertise, trid),
        ),
        "DHCPv6 Reply": Probe(
            dhcp6_server(DHCP6_Reply, a.mac, v.mac, a.ll, v.ll, trid),
            a,
            v,
            dhcp6_with(DHCP6_Reply, trid),
        ),
        "DHCPv4 Offer": Probe(dhcp4_offer(a.mac, v.mac, a.ip4, v.ip4, xid), a, v, bootp_with(xid)),
        # A rogue server need not answer from the server port: the client port is what counts.
        "DHCPv6 Reply from another source port": Probe(
            dhcp6_server(DHCP6_Reply, a.mac, v.mac, a.ll, v.ll, trid + 1, sport=5470),
            a,
            v,
            dhcp6_with(DHCP6_Reply, trid + 1),
        ),
        "DHCPv4 Offer from another source port": Probe(
            dhcp4_offer(a.mac, v.mac, a.ip4, v.ip4, xid + 1, sport=6700),
            a,
            v,
            bootp_with(xid + 1),
        ),
        # From its link-local: leaves the victim's entry for the attacker's address alone.
        "attacker's own NS": Probe(
            ns(a.mac, v.mac, a.ll, v.ip6, v.ip6, a.mac), a, v, source_lla(a.mac)
        ),
    }

    def caches() -> dict[str, str | None]:
        return {
            "peer": neighbour_mac(v, p.ip6),
            "router": neighbour_mac(v, scene.router_ll),
            "peer IPv4": neighbour_mac(v, p.ip4),
            "attacker": neighbour_mac(v, a.ip6),
        }

    right = {"peer": p.mac, "router": scene.router_mac, "peer IPv4": p.mac, "attacker": a.mac}

    def attack() -> tuple[set[str], dict[str, str | None]]:
        """Victim's caches filled the honest way, then the attacks; what arrived, the caches."""
        run(["ip", "neigh", "flush", "dev", "eth0"], netns=v.ns)
        for target in (p.ip6, f"{scene.router_ll}%eth0", p.ip4, a.ip6):
            assert lab.ping(v.workload, target), target
        assert caches() == right
        time.sleep(1.1)  # past ARP's locktime: a reply may now replace the peer's entry
        return arrivals(plan), caches()

    arrived, after = attack()
    assert arrived == {"attacker's own NS"}, "guarded: only the attacker's own NS arrives"
    assert after == right, "the victim's neighbour caches are untouched"

    # Positive control: port security off, every attack arrives and poisons the caches.
    set_port_security(lab, a, False)
    outcome: tuple[set[str], dict[str, str | None]] = (set(), {})

    def poisoned() -> bool:
        nonlocal outcome
        outcome = attack()
        return outcome[0] == set(plan)

    wait_for("port security off: every attack arrives", poisoned)
    assert outcome[1] == {
        "peer": a.mac,
        "router": a.mac,
        "peer IPv4": a.mac,
        "attacker": FOREIGN_MAC,
    }, outcome


def duid_ll(mac: str) -> str:
    """The DUID a workload's dhclient sends (``-D LL``: type 3, Ethernet), as dnsmasq logs it."""
    return f"00:03:00:01:{mac}"


@contextmanager
def rogue_dhcpv6_server(member: Member, where: Path) -> Iterator[Path]:
    """A real dnsmasq in ``member``'s workload leasing ROGUE_POOL; yields its log (log-dhcp).

    dnsmasq serves a range only via an address of the interface whose prefix is no longer
    than the range's (a DHCPv6 /128 does not count: "no address range available"), so the
    attacker first gives itself ROGUE_SERVER/64. ``dhcp-authoritative`` makes it send
    preference 255, which dhclient (RFC 8415) takes at once without waiting for other servers.
    Killed on the way out, failed or not."""
    run(["ip", "addr", "add", f"{ROGUE_SERVER}/64", "dev", "eth0", "nodad"], netns=member.ns)
    log = where / "rogue.log"
    proc = spawn(
        dnsmasq_argv("eth0", where, "rogue", f"--dhcp-range={ROGUE_POOL},64,120s"), netns=member.ns
    )

    def listening() -> bool:
        assert proc.poll() is None, log.read_text() if log.exists() else proc.returncode
        return log.exists() and "sockets bound exclusively to interface eth0" in log.read_text()

    try:
        wait_for("the rogue DHCPv6 server to listen", listening, 5)
        yield log
    finally:
        proc.kill()
        proc.wait(timeout=5)


def rogue_advertises(log: Path, member: Member) -> int:
    """How many Advertises the rogue server says it sent to ``member``'s DHCPv6 client."""
    duid = duid_ll(member.mac)
    lines = log.read_text().splitlines()
    return sum("DHCPADVERTISE(eth0)" in line and line.rstrip().endswith(duid) for line in lines)


def client_log(lab: Lab, member: Member) -> str:
    """What ``member``'s DHCPv6 client (dhclient -6 -v, started by its guest agent) logged."""
    path = WorkloadPaths.of(lab.run_dir, member.ns).dhclient_log(6, "eth0")
    return path.read_text() if path.exists() else ""


def heard_from(lab: Lab, member: Member) -> set[str]:
    """Whose Advertises and Replies ``member``'s DHCPv6 client received, by its log (it logs
    each one it receives, also those it ignores once it chose a server)."""
    found = re.findall(
        r"RCV: (?:Advertise|Reply) message on eth0 from (\S+)\.", client_log(lab, member)
    )
    return set(found)


def v6_addresses(lab: Lab, member: Member) -> set[str]:
    return {str(a.address) for a in lab.guest(member.workload).interfaces["eth0"].ipv6}


def server_messages(frames: list[Ether]) -> set[tuple[str, str, str]]:
    """(message, source MAC, source address) of every DHCPv6 Advertise and Reply captured."""
    return {
        (kind.__name__, f.src, f[IPv6].src)
        for f in frames
        for kind in (DHCP6_Advertise, DHCP6_Reply)
        if f.haslayer(kind)
    }


def solicit_again(lab: Lab, member: Member, rogue_log: Path | None = None) -> list[Ether]:
    """Every frame ``member`` receives while its DHCPv6 client starts over with a Solicit, as
    after a crash: killed (no Release, its address stays) and its lease file gone, the guest
    agent starts a new one after its restart back-off (1 s, then 2 s). The exchange is over
    once that client is bound and, given ``rogue_log``, the rogue has answered its Solicit:
    dhclient solicits again only while no Advertise comes, and once bound sends nothing before
    T1 (an hour). Without ``rogue_log`` (a client the rogue must not hear) binding ends it:
    any server's Advertise, sent at once on the Solicit, has come by then."""
    paths = WorkloadPaths.of(lab.run_dir, member.ns)
    pid = read_pid(paths.dhclient_pid(6, "eth0"))
    assert pid is not None, f"{member.name} runs no DHCPv6 client"
    bound = client_log(lab, member).count("PRC: Bound to lease")
    answered = rogue_advertises(rogue_log, member) if rogue_log else 0

    def over() -> bool:
        if client_log(lab, member).count("PRC: Bound to lease") <= bound:
            return False
        return rogue_log is None or rogue_advertises(rogue_log, member) > answered

    sniffer = Sniffer(member.ns)
    try:
        os.kill(pid, signal.SIGKILL)
        wait_for("the old DHCPv6 client to die", lambda: not pid_alive(pid), 5)
        paths.dhclient_leases(6, "eth0").unlink(missing_ok=True)
        answer = ", answered by the rogue" if rogue_log else ""
        wait_for(f"{member.name} to solicit and bind again{answer}", over)
        time.sleep(0.3)  # the rogue logs its Advertise just before it sends it
    finally:
        frames = sniffer.stop()
    return frames


def honest_answers(dhcp_mac: str) -> set[tuple[str, str, str]]:
    """``server_messages`` of an exchange with only the DHCP port of MAC ``dhcp_mac``."""
    return {(m, dhcp_mac, link_local(dhcp_mac)) for m in ("DHCP6_Advertise", "DHCP6_Reply")}


def boot_twin_victim(lab: Lab, victim: Member, rogue_log: Path) -> tuple[Member, str]:
    """The other tenant's twin of the rogue's network (same prefix, its own DHCP port) with a
    victim of the victim's MAC: the same link-local and DUID-LL, the strongest overlap. It
    boots beside the running rogue, which must never hear its Solicit (the rogue logs by
    DUID); returns the twin and its DHCP port's MAC."""
    answered = rogue_advertises(rogue_log, victim)
    net, group = stateful_network(lab, "fhs-rogue-twin", CIDR6_STATEFUL)
    twin = join(lab, net, group, "twin-victim", mac_address=victim.mac)
    assert twin.ip6 != victim.ip6, "drawn apart, or a crossed lease could not be told"
    lab.wait_active(twin.port)
    lab.wait_addresses(twin.workload, twin.ip6)
    assert rogue_advertises(rogue_log, twin) == answered, "the twin's Solicit reached the rogue"
    return twin, dhcp_port_mac(lab, net)


def test_r21_a_real_rogue_dhcpv6_server_gives_the_victim_nothing(
    clean: Lab, tmp_path: Path
) -> None:
    """R21 with real daemons: a rogue dnsmasq in the attacker's workload on a DHCPv6-stateful
    network answers the victim's dhclient (its guest agent runs it: the RA says M=1) at once
    and with preference 255, as a real attacker would; the guards drop its answers, so the
    victim binds the API's address only. Positive control: the attacker unguarded, the rogue's
    Advertises reach the victim.

    Beside an overlapping tenant, that tenant's twin victim (same prefix, MAC and DUID) boots
    and solicits beside the rogue too: the rogue never hears it, and it hears nothing of the
    rogue's network (not even the rogue's answers to the victim, whose MAC it shares) and gets
    exactly its own address from its own DHCP port."""
    lab = clean
    net, group = stateful_network(lab, "fhs-rogue", CIDR6_STATEFUL)
    a = join(lab, net, group, "attacker")
    lab.wait_active(a.port)
    lab.wait_addresses(a.workload, a.ip6)
    dhcp_mac = dhcp_port_mac(lab, net)
    honest = honest_answers(dhcp_mac)

    with rogue_dhcpv6_server(a, tmp_path) as rogue_log:
        # The victim boots where the rogue already answers, then solicits again, captured.
        v = join(lab, net, group, "victim")
        lab.wait_active(v.port)
        lab.wait_addresses(v.workload, v.ip6)
        wait_for("the rogue to answer the victim's Solicit", lambda: rogue_advertises(rogue_log, v))
        frames = solicit_again(lab, v, rogue_log)
        assert server_messages(frames) == honest, "guarded: nothing from the attacker arrives"
        assert heard_from(lab, v) == {link_local(dhcp_mac)}, "both times, only the DHCP port"
        assert v6_addresses(lab, v) == {v.ip6}, "the API's address, none from the rogue"
        twin = boot_twin_victim(lab, v, rogue_log) if getattr(lab, "overlapping", False) else None

        # Positive control: the attacker unguarded (its spoof tells the update was applied).
        set_port_security(lab, a, False)
        marker = b"r21-rogue-dhcpv6"
        spoof = Probe(echo6(a.mac, v.mac, ROGUE_SERVER, v.ip6, marker), a, v, echo_with(marker))
        wait_arrivals("the attacker unguarded", {"spoof": spoof}, {"spoof"})
        twin_sniffer = Sniffer(twin[0].ns) if twin else None
        try:
            frames = solicit_again(lab, v, rogue_log)
        finally:
            at_twin = twin_sniffer.stop() if twin_sniffer else []
        assert ("DHCP6_Advertise", a.mac, a.ll) in server_messages(frames), server_messages(frames)
        wait_for(
            "the victim's client to take in the rogue's Advertise",
            lambda: a.ll in heard_from(lab, v),
            5,
        )
        if twin:  # still the other tenant's own DHCP port only, the rogue unguarded
            t, twin_dhcp_mac = twin
            assert twin_dhcp_mac != dhcp_mac, "the captures could not tell the servers apart"
            crossed = [f.summary() for f in at_twin if f.src in (a.mac, dhcp_mac)]
            assert not crossed, "the rogue's and the DHCP port's answers to the victim stay out"
            answered = rogue_advertises(rogue_log, t)
            frames = solicit_again(lab, t)
            assert rogue_advertises(rogue_log, t) == answered, "the rogue never hears the twin"
            assert server_messages(frames) == honest_answers(twin_dhcp_mac), "only its own port"
            assert heard_from(lab, t) == {link_local(twin_dhcp_mac)}, "both times, its own port"
            assert v6_addresses(lab, t) == {t.ip6}, "its own API address, nothing else"


# --- what keeps working -------------------------------------------------------------------------


def solicited_node(address: str) -> ipaddress.IPv6Address:
    low = int(ipaddress.IPv6Address(address)) & 0xFFFFFF
    return ipaddress.IPv6Address(int(ipaddress.IPv6Address("ff02::1:ff00:0")) | low)


def test_mld_dad_and_nd_keep_working_through_the_guards(clean: Lab) -> None:
    scene = build_scene(clean)  # every workload's addresses past DAD: its NS from :: passed
    lab, v, p = clean, scene.victim, scene.peer

    # ND and forwarding: the workloads reach each other and the router's gateway.
    for one, other in ((v, p), (p, v), (scene.attacker, v)):
        assert lab.ping(one.workload, other.ip6), (one.name, other.name)
        assert lab.ping(one.workload, f"{other.ll}%eth0"), (one.name, other.name)
        assert lab.ping(one.workload, scene.gateway), one.name
    assert neighbour_mac(v, p.ip6) == p.mac
    assert neighbour_mac(v, scene.router_ll) == scene.router_mac

    # MLD: the bridge learnt each workload's solicited-node group on its tap from its reports.
    listing = run(["bridge", "-j", "mdb", "show"], netns=lab.host_netns).stdout
    learnt = {
        (entry["port"], ipaddress.ip_address(entry["grp"]))
        for bridge in json.loads(listing or "[]")
        for entry in bridge.get("mdb", [])
    }
    for member in scene.members():
        assert (member.tap, solicited_node(member.ip6)) in learnt, (member.name, learnt)

    # DAD: the peer holds VIP; the victim's DAD for it finds the duplicate once both ports own
    # it (allowed address pairs): its NS from :: and the peer's NA both pass the guards. Before,
    # that NS is dropped (a port's DAD for an address it does not own), so nothing is found.
    settings = ["net.ipv6.conf.eth0.accept_dad=1", "net.ipv6.neigh.eth0.retrans_time_ms=100"]
    run(["sysctl", "-qw", *settings], netns=v.ns)
    run(["ip", "addr", "add", f"{VIP}/128", "dev", "eth0", "nodad"], netns=p.ns)

    def dad() -> set[str]:
        """The victim's DAD for VIP, from scratch: the address's final flags."""
        run(["ip", "addr", "flush", "dev", "eth0", "to", f"{VIP}/128"], netns=v.ns)
        run(["ip", "addr", "add", f"{VIP}/128", "dev", "eth0"], netns=v.ns)

        def finished() -> set[str] | None:
            out = run(["ip", "-j", "addr", "show", "dev", "eth0", "to", VIP], netns=v.ns).stdout
            infos = [i for link in json.loads(out or "[]") for i in link.get("addr_info", [])]
            flags = {k for info in infos for k, val in info.items() if val is True}
            return None if "tentative" in flags and "dadfailed" not in flags else flags or {"-"}

        return wait_for("the victim's DAD for VIP to end", finished, 5)

    assert "dadfailed" not in dad(), "the guards let DAD for a foreign address through"
    for member in (v, p):
        lab.update("port", member.port["id"], allowed_address_pairs=[{"ip_address": VIP}])
    wait_for("DAD to find the peer's VIP", lambda: "dadfailed" in dad())


def test_dhcpv6_stateful_clients_get_their_leases_through_the_guards(clean: Lab) -> None:
    """Beside an overlapping tenant, that tenant's twin network (same prefix) with workloads of
    the same MACs (same DUIDs) boots at the same time: each client gets exactly its own
    network's lease, and only from its own network's DHCP port."""
    lab = clean
    net, group = stateful_network(lab, "fhs-dhcp", CIDR6_DHCP)
    members = [join(lab, net, group, name) for name in ("a", "b")]
    tenants = [(net, members)]
    if getattr(lab, "overlapping", False):
        twin_net, twin_group = stateful_network(lab, "fhs-dhcp-twin", CIDR6_DHCP)
        twins = [
            join(lab, twin_net, twin_group, f"twin-{m.name}", mac_address=m.mac) for m in members
        ]
        assert not {m.ip6 for m in members} & {t.ip6 for t in twins}, "a crossed lease would hide"
        tenants.append((twin_net, twins))
    everyone = [m for _, tenant in tenants for m in tenant]
    lab.wait_active(*(m.port for m in everyone))
    for member in everyone:  # Solicit/Request out, Advertise/Reply in from the DHCP port
        lab.wait_addresses(member.workload, member.ip6)
    for _, (one, other) in tenants:
        assert lab.ping(one.workload, other.ip6) and lab.ping(other.workload, one.ip6)
    if len(tenants) > 1:
        servers = [link_local(dhcp_port_mac(lab, n)) for n, _ in tenants]
        assert len(set(servers)) == len(servers), "the logs could not tell the servers apart"
        for server, (_, tenant) in zip(servers, tenants, strict=True):
            for member in tenant:
                assert heard_from(lab, member) == {server}, member.name
                assert v6_addresses(lab, member) == {member.ip6}, member.name
