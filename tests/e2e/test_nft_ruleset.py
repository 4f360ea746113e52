"""Root proof of ``render/nftables.py`` on this kernel, by real traffic between namespaces.

A "host" namespace holds one bridge with four ports, each a veth to a namespace of its own: A
(a server, group WEB), B (a client, group CLIENTS), X (the attacker, group CLIENTS when its port
security is on) and R (playing the network's router port). The rendered ruleset is loaded into
the host namespace with ``nft -f``; everything else is built by hand with ``ip``.

* Security groups (R13): ping and TCP 8080 from B reach A and the replies reach B (B has no
  ingress rule: conntrack lets them in); 8081 is dropped; X is not in the remote group until a
  set update (element lines only) adds it; a re-render without the 8080 rule cuts new
  connections while an established one keeps working.
* First-hop security (R15, R16, R21): X sends frames built with scapy (``attacks.py``: raw
  sockets send them, a raw socket in A records what arrives): spoofed IPv6 and IPv4 sources, a
  spoofed MAC, RAs (one behind a hop-by-hop header), DHCPv6 Advertise and Reply, a DHCPv4
  Offer, an NA for B's address, an NS with a foreign link-layer option, an ARP reply for B's
  IPv4 address. Round 0, no ruleset: every attack reaches A, A configures the rogue prefix,
  takes the rogue default route and its neighbour cache is poisoned, so the test can fail.
  Round 1, X's port security off: X's frames pass unfiltered, except RAs, which reach a guarded
  workload only from the router port. Round 2, X guarded: nothing arrives, A's state is
  untouched, each attack was counted by the guard meant for it, while X's own echo (IPv6 and
  IPv4, so ND and ARP), its NS and DHCPv6 Solicit, the router's RA and DAD (X detects a
  duplicate of A's address) work.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from tests.e2e.conftest import remove_tagged, wait_for
from tests.e2e.probes import EchoServer, TcpSession, tcp_connects
from tests.e2e.traffic import pings
from v6fabric.drivers.commands import run
from v6fabric.hoststate.firewall import (
    AllowedAddress,
    FirewallNetwork,
    FirewallPort,
    FirewallSpec,
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from v6fabric.render.nftables import render_ruleset, render_set_updates, sets_only_changed

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real namespaces"),
    pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables"),
]
pytest.importorskip("scapy")

from scapy.layers.dhcp6 import DHCP6_Advertise, DHCP6_Reply  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

from tests.e2e.attacks import (  # noqa: E402
    FOREIGN_MAC,
    Predicate,
    Sniffer,
    arp_claim,
    arp_reply,
    bootp_with,
    dhcp4_offer,
    dhcp6_server,
    dhcp6_solicit,
    dhcp6_solicit_with,
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
    source_lla,
)
from tests.e2e.attacks import send as send_frames  # noqa: E402

NET = "a7e1c0de-0000-4000-8000-000000000001"
WEB = "5eb00000-0000-4000-8000-00000000000a"
CLIENTS = "c11e0000-0000-4000-8000-00000000000b"
MAC = {
    "a": "fa:16:3e:77:00:0a",
    "b": "fa:16:3e:77:00:0b",
    "x": "fa:16:3e:77:00:0c",
    "r": "fa:16:3e:77:00:0f",
}
GUA = {"a": "2001:db8:77::a", "b": "2001:db8:77::b", "x": "2001:db8:77::c", "r": "2001:db8:77::1"}
V4 = {"a": "10.77.0.10", "b": "10.77.0.11", "x": "10.77.0.12", "r": "10.77.0.1"}
DUP = "2001:db8:77:d::1"  # A's second address; X may use 2001:db8:77:d::/64 (a pair)


def ll(name: str) -> str:
    return link_local(MAC[name])


# --- the lab ------------------------------------------------------------------------------------


@dataclass
class Lab:
    tag: str

    @property
    def host(self) -> str:
        return f"t7-{self.tag}-host"

    @property
    def bridge(self) -> str:
        return f"v6b-{self.tag}"

    def ns(self, name: str) -> str:
        return f"t7-{self.tag}-{name}"

    def tap(self, name: str) -> str:
        return f"tap{self.tag}{name}"

    def nft(self, script: str) -> None:
        run(["nft", "-f", "-"], netns=self.host, input=script)

    def sh(self, name: str, *argv: str, check: bool = True) -> str:
        return run(list(argv), netns=self.ns(name), check=check).stdout


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab(secrets.token_hex(3))
    try:
        _build(lab)
        yield lab
    finally:
        remove_tagged(lab.tag, [])


def _build(lab: Lab) -> None:
    host = lab.host
    run(["ip", "netns", "add", host])
    run(["ip", "-n", host, "link", "set", "lo", "up"])
    # Bridge ports must not autoconfigure; bridged traffic must go through the inet hooks.
    run(["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"], netns=host)
    for key in ("net.bridge.bridge-nf-call-ip6tables=1", "net.bridge.bridge-nf-call-iptables=1"):
        run(["sysctl", "-qw", key], netns=host)
    run(["ip", "-n", host, "link", "add", lab.bridge, "type", "bridge", "stp_state", "0"])
    run(["ip", "-n", host, "link", "set", lab.bridge, "type", "bridge", "mcast_snooping", "0"])
    run(["ip", "-n", host, "link", "set", lab.bridge, "up"])
    for name, mac in MAC.items():
        ns, tap = lab.ns(name), lab.tap(name)
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        veth = ["type", "veth", "peer", "name", "eth0", "netns", ns, "address", mac]
        run(["ip", "-n", host, "link", "add", tap, *veth])
        run(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"], netns=ns)
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", ns, "addr", "add", f"{GUA[name]}/64", "dev", "eth0", "nodad"])
        run(["ip", "-n", ns, "addr", "add", f"{V4[name]}/24", "dev", "eth0"])
        run(["ip", "-n", host, "link", "set", tap, "master", lab.bridge, "up"])
    run(["ip", "-n", lab.ns("a"), "addr", "add", f"{DUP}/64", "dev", "eth0", "nodad"])
    for name in MAC:
        wait_for(f"{name} link-local", lambda n=name: ll(n) in lab.sh(n, "ip", "-6", "addr"))


def firewall(
    lab: Lab, *, x_guarded: bool = True, allow_8080: bool = True, clients: tuple[str, ...] = ("b",)
) -> FirewallSpec:
    def port(name: str, groups: tuple[str, ...], *extra: AllowedAddress) -> FirewallPort:
        own = (AllowedAddress(f"{GUA[name]}/128", MAC[name]), AllowedAddress(V4[name], MAC[name]))
        return FirewallPort(
            name, lab.tap(name), NET, MAC[name], allowed=(*own, *extra), security_groups=groups
        )

    web_rules = [
        SecurityGroupRule("ingress", "IPv6", protocol=58, icmp_type=128),
        SecurityGroupRule("ingress", "IPv4", protocol=1, icmp_type=8),
        SecurityGroupRule("egress", "IPv6"),
        SecurityGroupRule("egress", "IPv4"),
    ]
    if allow_8080:
        web_rules.append(SecurityGroupRule("ingress", "IPv6", 6, 8080, 8080, remote_group=CLIENTS))
    x = port("x", (CLIENTS,), AllowedAddress("2001:db8:77:d::/64", MAC["x"]))
    return FirewallSpec(
        networks=(FirewallNetwork(NET, lab.bridge, zone=7),),
        ports=(
            port("a", (WEB,), AllowedAddress(f"{DUP}/128", MAC["a"])),
            port("b", (CLIENTS,)),
            x if x_guarded else replace(x, port_security=False, security_groups=()),
            FirewallPort("r", lab.tap("r"), NET, MAC["r"], role="router"),
        ),
        security_groups=(
            SecurityGroup(WEB, rules=tuple(web_rules)),
            SecurityGroup(
                CLIENTS,
                rules=(SecurityGroupRule("egress", "IPv6"), SecurityGroupRule("egress", "IPv4")),
            ),
        ),
        remote_groups=(RemoteGroup.of(CLIENTS, ipv6=tuple(f"{GUA[c]}/128" for c in clients)),),
    )


@contextlib.contextmanager
def ruleset(lab: Lab, spec: FirewallSpec | None) -> Iterator[None]:
    if spec is not None:
        lab.nft(render_ruleset(spec))
    try:
        yield
    finally:
        run(["nft", "delete", "table", "bridge", "v6fabric"], netns=lab.host, check=False)
        run(["nft", "delete", "table", "inet", "v6fabric"], netns=lab.host, check=False)


# --- traffic helpers ----------------------------------------------------------------------------


def tcp_ok(lab: Lab, client: str, port: int) -> bool:
    """A new TCP connection from ``client`` to A's echo server on ``port`` works."""
    return tcp_connects(lab.ns(client), GUA["a"], port, timeout=1.0)


@pytest.fixture(scope="module")
def echo_server(lab: Lab) -> Iterator[None]:
    with contextlib.ExitStack() as servers:
        for port in (8080, 8081):
            servers.enter_context(EchoServer(lab.ns("a"), "::", port))
        yield


# --- security groups ----------------------------------------------------------------------------


def test_security_groups_are_stateful_and_follow_set_updates(lab: Lab, echo_server: None) -> None:
    spec = firewall(lab)
    with ruleset(lab, spec):
        assert pings(lab.ns("b"), GUA["a"]), "echo allowed by WEB, reply by B's conntrack"
        assert tcp_ok(lab, "b", 8080), "8080 from a CLIENTS member"
        assert not tcp_ok(lab, "b", 8081), "no rule allows 8081"
        assert not tcp_ok(lab, "x", 8080), "X is not a CLIENTS member yet"
        assert not pings(lab.ns("a"), GUA["b"]), "B has no ingress rule: new flows to B drop"
        flows = run(["cat", "/proc/net/nf_conntrack"], netns=lab.host).stdout.splitlines()
        b = ipaddress.IPv6Address(GUA["b"]).exploded  # as /proc spells it
        tracked = [f for f in flows if f"src={b}" in f and "dport=8080" in f]
        assert tracked and all("zone=7" in f for f in tracked), flows

        # Membership: one set element, no rule rewritten.
        member = firewall(lab, clients=("b", "x"))
        assert sets_only_changed(spec, member)
        update = render_set_updates(spec, member)
        assert update.splitlines() == [f"add element inet v6fabric rg6_{CLIENTS} {{ {GUA['x']} }}"]
        assert render_set_updates(member, member) == ""
        lab.nft(update)
        assert tcp_ok(lab, "x", 8080), "X allowed once it is a member"

        # Rule removal: new connections cut, the established one keeps working.
        with TcpSession(lab.ns("b"), GUA["a"], 8080) as client:
            assert client.connected and client.exchange("before") == "echo:before"
            lab.nft(render_ruleset(firewall(lab, clients=("b", "x"), allow_8080=False)))
            assert not tcp_ok(lab, "b", 8080), "the rule is gone: new connections drop"
            assert not tcp_ok(lab, "x", 8080)
            assert client.exchange("after") == "echo:after", "established flow kept"
            assert pings(lab.ns("b"), GUA["a"])


# --- first-hop security -------------------------------------------------------------------------


def send(lab: Lab, name: str, frames: list[Ether]) -> None:
    send_frames(lab.ns(name), frames)


def attacks(n: int) -> dict[str, tuple[Ether, Predicate]]:
    """Round ``n``'s attack frames from X, each with what recognises it at A."""
    mx, ma, x_ll, a_ll = MAC["x"], MAC["a"], ll("x"), ll("a")
    bad, bad_hbh = f"2001:db8:bad{n}::", f"2001:db8:bbb{n}::"
    trid = 0x7700 + n
    return {
        "spoofed IPv4 source": (
            echo4(mx, ma, f"10.77.0.{90 + n}", V4["a"], b"v4src%d" % n),
            echo4_with(b"v4src%d" % n),
        ),
        "ARP reply for B's IPv4 address": (
            arp_reply(mx, ma, V4["b"], V4["a"]),
            arp_claim(V4["b"], mx),
        ),
        "DHCPv4 Offer": (dhcp4_offer(mx, ma, V4["x"], V4["a"], trid), bootp_with(trid)),
        "spoofed IPv6 source": (
            echo6(mx, ma, f"2001:db8:77::bad{n}", GUA["a"], b"src%d" % n),
            echo_with(b"src%d" % n),
        ),
        "spoofed MAC": (
            echo6(FOREIGN_MAC, ma, GUA["x"], GUA["a"], b"mac%d" % n),
            echo_with(b"mac%d" % n),
        ),
        "RA": (ra(mx, x_ll, bad), ra_with(bad)),
        "RA behind a hop-by-hop header": (ra(mx, x_ll, bad_hbh, hop_by_hop=True), ra_with(bad_hbh)),
        "DHCPv6 Advertise": (
            dhcp6_server(DHCP6_Advertise, mx, ma, x_ll, a_ll, trid),
            dhcp6_with(DHCP6_Advertise, trid),
        ),
        "DHCPv6 Reply": (
            dhcp6_server(DHCP6_Reply, mx, ma, x_ll, a_ll, trid),
            dhcp6_with(DHCP6_Reply, trid),
        ),
        "NA for B's address": (
            na(mx, ma, GUA["x"], GUA["a"], GUA["b"], mx),
            na_for(GUA["b"], mx),
        ),
        "NS with a foreign link-layer option": (
            ns(mx, ma, GUA["x"], GUA["a"], GUA["a"], FOREIGN_MAC),
            source_lla(FOREIGN_MAC),
        ),
    }


@dataclass
class Effects:
    """What the attacks did to A, beyond frames arriving."""

    rogue_prefix: bool
    rogue_default_route: bool
    poisoned_neighbour: bool
    foreign_lladdr_for_x: bool


def attack_round(lab: Lab, n: int) -> tuple[set[str], Effects]:
    """Send round ``n``'s attacks from X; the ones that reached A, and A's resulting state."""
    lab.sh("a", "ip", "-6", "neigh", "flush", "dev", "eth0")
    lab.sh("a", "ip", "-6", "route", "del", "default", "via", ll("x"), "dev", "eth0", check=False)
    pings(lab.ns("a"), GUA["b"])  # resolves B: the NA attack needs an entry to poison
    wait_for(
        "A's neighbour entry for B",
        lambda: MAC["b"] in lab.sh("a", "ip", "-6", "neigh", "show", GUA["b"]),
    )
    plan = attacks(n)
    sniffer = Sniffer(lab.ns("a"))
    send(lab, "x", [frame for frame, _ in plan.values()])
    time.sleep(0.3)
    frames = sniffer.stop()
    arrived = {name for name, (_, seen) in plan.items() if any(seen(f) for f in frames)}
    addresses = lab.sh("a", "ip", "-6", "addr", "show", "dev", "eth0")
    effects = Effects(
        rogue_prefix=f"2001:db8:bad{n}:" in addresses or f"2001:db8:bbb{n}:" in addresses,
        rogue_default_route=ll("x") in lab.sh("a", "ip", "-6", "route", "show", "default"),
        poisoned_neighbour=MAC["x"] in lab.sh("a", "ip", "-6", "neigh", "show", GUA["b"]),
        foreign_lladdr_for_x=FOREIGN_MAC in lab.sh("a", "ip", "-6", "neigh", "show", GUA["x"]),
    )
    return arrived, effects


GUARD_DROPS = {  # the comment of the dropping rule: round 2's frames it must have counted
    "MAC guard": 1,
    "IPv6 source guard": 1,
    "RA guard": 2,
    "DHCPv6 guard": 2,
    "IPv4 source guard": 1,
    "ARP guard": 1,
    "DHCPv4 guard": 1,
    "ND guard: target": 1,
    "ND guard: link-layer option": 1,
}


def guard_counters(lab: Lab) -> dict[str, int]:
    """Packets counted by each commented rule of our bridge table (a small table: listed once)."""
    listing = run(["nft", "-j", "list", "table", "bridge", "v6fabric"], netns=lab.host).stdout
    counted: dict[str, int] = {}
    for item in json.loads(listing)["nftables"]:
        rule = item.get("rule")
        if rule and "comment" in rule:
            packets = [e["counter"]["packets"] for e in rule["expr"] if "counter" in e]
            counted[rule["comment"]] = sum(packets)
    return counted


def test_attacks_arrive_unfiltered_and_are_dropped_by_the_guards(lab: Lab) -> None:
    everything = set(attacks(0))
    ras = {"RA", "RA behind a hop-by-hop header"}

    with ruleset(lab, None):
        arrived, effects = attack_round(lab, 0)
    assert arrived == everything, "without a ruleset every attack must arrive"
    assert effects == Effects(True, True, True, True), effects

    with ruleset(lab, firewall(lab, x_guarded=False)):
        arrived, effects = attack_round(lab, 1)
    assert arrived == everything - ras, "port security off: all but RAs pass"
    assert effects == Effects(False, False, True, True), effects

    with ruleset(lab, firewall(lab)):
        arrived, effects = attack_round(lab, 2)
        assert arrived == set(), f"guarded X still reached A with: {sorted(arrived)}"
        assert effects == Effects(False, False, False, False), effects
        # Each attack was stopped by the guard meant for it, not by one catching everything.
        dropped = guard_counters(lab)
        for guard, frames in GUARD_DROPS.items():
            assert dropped.get(guard, 0) >= frames, (guard, dropped)
        _legitimate_traffic_still_works(lab)


def _legitimate_traffic_still_works(lab: Lab) -> None:
    mx, x_ll = MAC["x"], ll("x")
    echo = echo6(mx, MAC["a"], GUA["x"], GUA["a"], b"legit")
    own_ns = ns(mx, MAC["a"], GUA["x"], GUA["a"], GUA["a"], mx)
    solicit = dhcp6_solicit(mx, x_ll, 0x4242)
    at_a, at_r = Sniffer(lab.ns("a")), Sniffer(lab.ns("r"))
    send(lab, "x", [echo, own_ns, solicit])
    send(lab, "r", [ra(MAC["r"], ll("r"), "2001:db8:600d::")])
    time.sleep(0.3)
    frames_a, frames_r = at_a.stop(), at_r.stop()
    assert any(echo_with(b"legit")(f) for f in frames_a), "X's own echo"
    assert any(source_lla(mx)(f) for f in frames_a), "X's own NS"
    assert any(ra_with("2001:db8:600d::")(f) for f in frames_a), "the router port's RA"
    assert any(dhcp6_solicit_with(0x4242)(f) for f in frames_r)
    wait_for(
        "A to configure the router's prefix",
        lambda: "2001:db8:600d:" in lab.sh("a", "ip", "-6", "addr"),
    )
    assert pings(lab.ns("x"), GUA["a"]), "X's echo through the guards and WEB"
    assert pings(lab.ns("x"), V4["a"]), "X's ARP and IPv4 echo through the guards and WEB"

    # DAD through the guards: X claims A's second address (inside X's allowed pair); X's DAD NS
    # from :: and A's answering NA must both pass for X to see the duplicate.
    x = lab.ns("x")
    run(
        [
            "sysctl",
            "-qw",
            "net.ipv6.conf.eth0.accept_dad=1",
            "net.ipv6.neigh.eth0.retrans_time_ms=100",
        ],
        netns=x,
    )
    lab.sh("x", "ip", "-6", "addr", "add", f"{DUP}/64", "dev", "eth0")
    wait_for(
        "X's DAD to find A's address",
        lambda: "dadfailed" in lab.sh("x", "ip", "-6", "addr", "show", "to", DUP),
        timeout=5,
    )
